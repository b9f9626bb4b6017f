//! Native tests: evaluations built by hand (string table, timelines in the order `prepare`
//! requests them) and run through the same entry point the host calls.

use std::collections::HashMap;

use licmetric_sdk::Metric;
use licmetric_sdk::facts::ABSENT;
use licmetric_sdk::types::*;

use crate::OracleProcessor;
use crate::rules::DEFAULT_RULE_DATA;

/// 2026-11-03T00:00:00Z.
const D0: i64 = 1_793_664_000_000;
const DAY: i64 = 86_400_000;
const HOUR: i64 = 3_600_000;
const OPEN: i64 = i64::MAX;

/// An attribute value as a collector would send it.
#[derive(Clone, Copy)]
enum V {
    S(&'static str),
    I(i64),
    D(&'static str),
    B(bool),
}
use V::*;

struct State {
    kind: &'static str,
    key: &'static str,
    from: i64,
    to: i64,
    attrs: Vec<(&'static str, V)>,
}

#[derive(Default)]
struct World {
    states: Vec<State>,
    products: Vec<(&'static str, &'static str)>,
    rule_data: Option<String>,
    days: usize,
}

fn day(i: usize) -> Day {
    let start = D0 + i as i64 * DAY;
    Day {
        date: format!("2026-11-{:02}", 3 + i),
        start,
        end: start + DAY,
    }
}

impl World {
    fn new() -> Self {
        World {
            days: 1,
            ..Default::default()
        }
    }

    fn fact(
        &mut self,
        kind: &'static str,
        key: &'static str,
        from: i64,
        to: i64,
        attrs: &[(&'static str, V)],
    ) -> &mut Self {
        self.states.push(State {
            kind,
            key,
            from,
            to,
            attrs: attrs.to_vec(),
        });
        self
    }

    /// A fact holding from before the first day, still open.
    fn always(
        &mut self,
        kind: &'static str,
        key: &'static str,
        attrs: &[(&'static str, V)],
    ) -> &mut Self {
        self.fact(kind, key, D0 - DAY, OPEN, attrs)
    }

    fn server(&mut self, key: &'static str, attrs: &[(&'static str, V)]) -> &mut Self {
        self.always("server", key, attrs)
    }

    fn vm(&mut self, key: &'static str, attrs: &[(&'static str, V)]) -> &mut Self {
        self.always("vm", key, attrs)
    }

    fn install(
        &mut self,
        key: &'static str,
        product: &'static str,
        on: &'static str,
        edition: &'static str,
    ) -> &mut Self {
        self.always(
            "installation",
            key,
            &[
                ("product", S(product)),
                ("on", S(on)),
                ("edition", S(edition)),
            ],
        )
    }

    fn product(&mut self, id: &'static str, parameters: &'static str) -> &mut Self {
        self.products.push((id, parameters));
        self
    }

    fn rules(&mut self, json: &str) -> &mut Self {
        self.rule_data = Some(json.to_string());
        self
    }

    fn run(&self) -> Outcome {
        let rule_data = self
            .rule_data
            .clone()
            .unwrap_or(DEFAULT_RULE_DATA.to_string());
        let refs: Vec<ProductRef> = self
            .products
            .iter()
            .map(|(id, p)| ProductRef {
                id: id.to_string(),
                parameters: p.to_string(),
            })
            .collect();
        let requests = match licmetric_sdk::prepare::<OracleProcessor>(&rule_data, &refs) {
            Ok(r) => r,
            Err(e) => {
                return Outcome {
                    days: Vec::new(),
                    errors: vec![e.0],
                };
            }
        };
        let mut bytes: Vec<u8> = Vec::new();
        let mut ends: Vec<u32> = vec![0];
        let mut index: HashMap<String, u32> = HashMap::from([(String::new(), 0)]);
        let mut intern = |s: &str| -> i64 {
            if let Some(&i) = index.get(s) {
                return i as i64;
            }
            bytes.extend_from_slice(s.as_bytes());
            ends.push(bytes.len() as u32);
            let i = ends.len() as u32 - 1;
            index.insert(s.to_string(), i);
            i as i64
        };
        let mut timelines = Vec::new();
        for request in &requests {
            let mut t = Timeline {
                kind: request.kind.clone(),
                entity: Vec::new(),
                from: Vec::new(),
                to: Vec::new(),
                columns: vec![Vec::new(); request.attributes.len()],
            };
            for s in self.states.iter().filter(|s| s.kind == request.kind) {
                t.entity.push(intern(s.key) as u32);
                t.from.push(s.from);
                t.to.push(s.to);
                for (c, attribute) in request.attributes.iter().enumerate() {
                    let value = s
                        .attrs
                        .iter()
                        .find(|(n, _)| *n == attribute.name)
                        .map(|(_, v)| *v);
                    t.columns[c].push(match value {
                        None => ABSENT,
                        Some(S(x)) | Some(D(x)) => intern(x),
                        Some(I(n)) => n,
                        Some(B(b)) => b as i64,
                    });
                }
            }
            timelines.push(t);
        }
        let input = Evaluation {
            rule_data,
            run_at: D0 + 30 * DAY,
            products: refs
                .into_iter()
                .map(|product| ProductDays {
                    product,
                    days: (0..self.days).map(day).collect(),
                })
                .collect(),
            strings: StringTable { bytes, ends },
            timelines,
        };
        licmetric_sdk::__private::evaluate::<OracleProcessor>(input)
    }
}

fn result<'o>(o: &'o Outcome, product: &str, date_index: usize) -> &'o DayResult {
    let date = day(date_index).date;
    o.days
        .iter()
        .find(|d| d.product == product && d.date == date)
        .unwrap_or_else(|| panic!("no result for {product} on {date}; errors: {:?}", o.errors))
}

fn measure<'d>(d: &'d DayResult, name: &str) -> &'d str {
    d.measures
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no measure {name}: {:?}", d.measures))
}

fn has_line(d: &DayResult, line: &str) {
    assert!(
        d.explanation.iter().any(|l| l == line),
        "missing line {line:?} in {:#?}",
        d.explanation
    );
}

fn has_warning(d: &DayResult, code: &str) {
    assert!(
        d.warnings.iter().any(|w| w.split(':').next() == Some(code)),
        "missing warning {code} in {:?}",
        d.warnings
    );
}

fn weights(d: &DayResult) -> Vec<(String, String, String)> {
    d.contributors
        .iter()
        .map(|c| (c.key.clone(), c.unit.clone(), c.weight.clone()))
        .collect()
}

const PA_RISC: [(&str, V); 2] = [
    ("processor_vendor", S("HP")),
    ("processor_brand", S("PA-RISC")),
];
const XEON: [(&str, V); 3] = [
    ("processor_vendor", S("Intel")),
    ("processor_brand", S("Xeon")),
    ("processor_model", S("E5-2699 v4")),
];
const POWER9: [(&str, V); 2] = [
    ("processor_vendor", S("IBM")),
    ("processor_brand", S("POWER9")),
];

fn with(base: &[(&'static str, V)], more: &[(&'static str, V)]) -> Vec<(&'static str, V)> {
    base.iter().chain(more).copied().collect()
}

#[test]
fn describe_declares_both_metrics_and_a_valid_default() {
    let info = OracleProcessor::describe();
    assert_eq!(info.name, "oracle-processor");
    assert_eq!(info.version, "1.0.0");
    let codes: Vec<&str> = info.metrics.iter().map(|m| m.code_name.as_str()).collect();
    assert_eq!(codes, ["ORACLE_PROCESSOR", "ORACLE_NAMED_USER_PLUS"]);
    let kinds: Vec<&str> = info.facts.iter().map(|f| f.kind.as_str()).collect();
    assert_eq!(
        kinds,
        ["server", "pool", "vm", "installation", "assignment"]
    );
    assert!(
        info.facts[3]
            .attributes
            .iter()
            .any(|a| a.name == "cost_center")
    );
    let doc: licmetric_sdk::serde_json::Value =
        licmetric_sdk::serde_json::from_str(&info.default_rule_data).unwrap();
    assert_eq!(doc["version"], "oracle-cft-2009-03-16");
    licmetric_sdk::serde_json::from_str::<licmetric_sdk::serde_json::Value>(&info.rule_data_schema)
        .unwrap();
    licmetric_sdk::serde_json::from_str::<licmetric_sdk::serde_json::Value>(&info.parameter_schema)
        .unwrap();
}

#[test]
fn ora_a_groups_by_factor_then_rounds_once() {
    let mut w = World::new();
    w.server("s1", &with(&PA_RISC, &[("cores", I(2))]));
    for key in ["s2", "s3", "s4", "s5"] {
        w.server(key, &with(&PA_RISC, &[("cores", I(1))]));
    }
    w.server("s6", &with(&XEON, &[("cores", I(1))]));
    for (i, s) in ["s1", "s2", "s3", "s4", "s5", "s6"].into_iter().enumerate() {
        let key: &'static str = ["i1", "i2", "i3", "i4", "i5", "i6"][i];
        w.install(key, "ee", s, "EE");
    }
    w.product("ee", "");
    let o = w.run();
    let d = result(&o, "ee", 0);
    assert_eq!(d.quantity, "6");
    assert_eq!(d.metric, "ORACLE_PROCESSOR");
    assert_eq!(d.partition, "");
    assert_eq!(measure(d, "processors"), "6");
    has_line(d, "factor 0.5: 1 core × 0.5 = 0.5 → 1");
    has_line(d, "factor 0.75: (2 + 1 + 1 + 1 + 1) cores × 0.75 = 4.5 → 5");
    has_line(d, "total: 1 (factor 0.5) + 5 (factor 0.75) = 6 processors");
    has_line(
        d,
        "s1: licensed in full (installed on the server) = 2 cores (factor 0.75)",
    );
    assert_eq!(
        d.explanation[0],
        "s1: licensed in full (installed on the server) = 2 cores (factor 0.75)"
    );
    assert!(d.warnings.is_empty(), "{:?}", d.warnings);
    // Direct installations weigh their server's raw value: 2 × 0.75 for s1.
    assert!(weights(d).contains(&("i1".into(), "server:s1".into(), "1.5".into())));
    assert_eq!(d.contributors.len(), 6);
}

#[test]
fn ora_b_cores_sockets_and_nup_minimum() {
    let mut w = World::new();
    w.server("big", &with(&XEON, &[("cores", I(32)), ("sockets", I(2))]));
    w.server("small", &with(&XEON, &[("cores", I(8)), ("sockets", I(1))]));
    w.install("ee-1", "db-ee", "big", "EE");
    w.install("se-1", "db-se", "big", "SE");
    w.install("se-2", "db-se-nup", "small", "SE");
    for (k, u) in [("a1", "ann"), ("a2", "bob"), ("a3", "batch")] {
        let mut attrs = vec![
            ("license_type", S("db-ee-nup")),
            ("user", S(u)),
            ("active", B(true)),
        ];
        if u == "batch" {
            attrs.push(("device", B(true)));
        }
        w.always("assignment", k, &attrs);
    }
    w.product("db-ee", "")
        .product("db-se", "")
        .product("db-ee-nup", r#"{"measure":"nup","processors_of":"db-ee"}"#)
        .product("db-se-nup", r#"{"measure":"nup"}"#);
    let o = w.run();
    assert!(o.errors.is_empty(), "{:?}", o.errors);

    let ee = result(&o, "db-ee", 0);
    assert_eq!(ee.quantity, "16");
    has_line(ee, "factor 0.5: 32 cores × 0.5 = 16");

    let se = result(&o, "db-se", 0);
    assert_eq!(se.quantity, "2");
    assert_eq!(measure(se, "sockets"), "2");
    has_line(
        se,
        "big: licensed in full (installed on the server) = 2 sockets",
    );

    let nup = result(&o, "db-ee-nup", 0);
    assert_eq!(nup.metric, "ORACLE_NAMED_USER_PLUS");
    assert_eq!(nup.quantity, "400");
    assert_eq!(measure(nup, "users"), "3");
    assert_eq!(measure(nup, "processors"), "16");
    assert_eq!(measure(nup, "minimum"), "400");
    has_line(nup, "minimum (EE): 25 NUP × 16 processors = 400 NUP");
    has_line(nup, "NUP: max(3 users, 400 minimum) = 400 NUP");
    let kinds: Vec<(&str, &str, &str)> = nup
        .contributors
        .iter()
        .map(|c| (c.kind.as_str(), c.key.as_str(), c.unit.as_str()))
        .collect();
    assert!(kinds.contains(&("device", "batch", "license_type:db-ee-nup")));
    assert!(kinds.contains(&("user", "ann", "license_type:db-ee-nup")));

    // SE on one server: 5 NUP per licensed server; no assignments of its licence type.
    let se_nup = result(&o, "db-se-nup", 0);
    assert_eq!(se_nup.quantity, "5");
    assert_eq!(measure(se_nup, "sockets"), "1");
    assert_eq!(measure(se_nup, "users"), "0");
}

#[test]
fn ora_c_cloud_instances() {
    let mut w = World::new();
    w.vm(
        "i-1",
        &[
            ("cloud", S("aws")),
            ("vcpus", I(32)),
            ("threads_per_core", I(2)),
        ],
    );
    w.vm(
        "i-2",
        &[
            ("cloud", S("aws")),
            ("vcpus", I(32)),
            ("threads_per_core", I(1)),
        ],
    );
    w.vm("i-3", &[("cloud", S("azure")), ("vcpus", I(10))]);
    w.install("x1", "ee-ht", "i-1", "EE");
    w.install("x2", "ee-noht", "i-2", "EE");
    w.install("x3", "se2", "i-3", "SE2");
    w.product("ee-ht", "")
        .product("ee-noht", "")
        .product("se2", "")
        .product("se2-nup", r#"{"measure":"nup","processors_of":"se2"}"#);
    let o = w.run();
    assert!(o.errors.is_empty(), "{:?}", o.errors);

    let ht = result(&o, "ee-ht", 0);
    assert_eq!(ht.quantity, "16");
    has_line(ht, "i-1 (EE): 32 vCPU / 2 threads = 16 processors");
    assert_eq!(
        weights(ht),
        [("x1".into(), "cloud:i-1".into(), "16".into())]
    );
    assert_eq!(result(&o, "ee-noht", 0).quantity, "32");

    let se2 = result(&o, "se2", 0);
    assert_eq!(se2.quantity, "3");
    has_line(se2, "i-3 (SE2): 10 vCPU / 4 = 2.5 → 3 sockets");
    has_warning(se2, "edition_limit_exceeded");

    let nup = result(&o, "se2-nup", 0);
    assert_eq!(nup.quantity, "20");
    has_line(nup, "minimum: 10 × ceil(10 / 8) (i-3, SE2) = 20 NUP");
}

#[test]
fn soft_partitioning_licenses_the_whole_cluster() {
    let mut w = World::new();
    w.server(
        "esx-a",
        &with(
            &XEON,
            &[
                ("cores", I(16)),
                ("cluster", S("C1")),
                ("cost_center", S("CC-IT")),
            ],
        ),
    );
    w.server(
        "esx-b",
        &with(&XEON, &[("cores", I(16)), ("cluster", S("C1"))]),
    );
    w.server(
        "esx-c",
        &with(&XEON, &[("cores", I(8)), ("cluster", S("C2"))]),
    );
    w.vm(
        "v1",
        &[
            ("server", S("esx-a")),
            ("vcpus", I(4)),
            ("cost_center", S("CC1")),
        ],
    );
    w.vm("v2", &[("server", S("esx-b")), ("vcpus", I(12))]);
    w.install("db1", "ee", "v1", "EE");
    w.install("db2", "ee", "v2", "EE");
    w.product("ee", "");
    let o = w.run();
    let d = result(&o, "ee", 0);
    // (16 + 16) × 0.5 = 16; esx-c in another cluster is not licensed.
    assert_eq!(d.quantity, "16");
    has_line(d, "factor 0.5: (16 + 16) cores × 0.5 = 16");
    has_line(
        d,
        "esx-a: licensed in full (soft partitioning, scope cluster C1: v1, v2) = 16 cores (factor 0.5)",
    );
    // The scope's raw value 16 shared by vCPUs 4 : 12.
    let mut w8 = weights(d);
    w8.sort();
    assert_eq!(
        w8,
        [
            ("db1".into(), "scope:cluster:C1".into(), "4".into()),
            ("db2".into(), "scope:cluster:C1".into(), "12".into())
        ]
    );
    let db1 = d.contributors.iter().find(|c| c.key == "db1").unwrap();
    assert_eq!(db1.attrs, [("cost_center".to_string(), "CC1".to_string())]);
    let db2 = d.contributors.iter().find(|c| c.key == "db2").unwrap();
    assert!(db2.attrs.is_empty());

    // equal_split shares the scope equally.
    w.rules(r#"{"version":"t","core_factors":[{"vendor":"Intel","brand":"Xeon","factor":"0.5"}],"chargeback_key":"equal_split"}"#);
    let d = result(&w.run(), "ee", 0).clone();
    assert!(
        weights(&d).iter().all(|(_, _, w)| w == "8"),
        "{:?}",
        weights(&d)
    );

    // Host scope: each vm licenses its own server only.
    w.rules(r#"{"version":"t","partitioning_scope":"host","core_factors":[{"vendor":"Intel","brand":"Xeon","factor":"0.5"}]}"#);
    let d = result(&w.run(), "ee", 0).clone();
    assert_eq!(d.quantity, "16");
    assert!(weights(&d).contains(&("db1".into(), "scope:host:esx-a".into(), "8".into())));
}

#[test]
fn scope_fallback_narrows_and_warns() {
    let mut w = World::new();
    w.rules(r#"{"version":"t","partitioning_scope":"vcenter"}"#);
    w.server("h1", &[("cores", I(8)), ("cluster", S("C1"))]);
    w.server(
        "h2",
        &[("cores", I(8)), ("cluster", S("C1")), ("vcenter", S("VC"))],
    );
    w.server("h3", &[("cores", I(4)), ("vcenter", S("VC"))]);
    w.server("h4", &[("cores", I(2))]);
    w.vm("v1", &[("server", S("h1")), ("vcpus", I(2))]);
    w.vm("v4", &[("server", S("h4")), ("vcpus", I(2))]);
    w.install("i1", "p1", "v1", "EE");
    w.install("i4", "p4", "v4", "EE");
    w.product("p1", "").product("p4", "");
    let o = w.run();
    // h1 has no vcenter: the scope narrows to its cluster C1 = h1 + h2 (not h3).
    let d = result(&o, "p1", 0);
    assert_eq!(d.quantity, "16");
    has_warning(d, "scope_fallback");
    has_warning(d, "core_factor_unidentified");
    assert!(
        d.warnings
            .iter()
            .any(|w| w.contains("narrowed to scope cluster C1")),
        "{:?}",
        d.warnings
    );
    // h4 has neither: host.
    let d = result(&o, "p4", 0);
    assert_eq!(d.quantity, "2");
    assert!(
        d.warnings
            .iter()
            .any(|w| w.contains("narrowed to scope host h4")),
        "{:?}",
        d.warnings
    );
}

#[test]
fn hard_partition_counts_its_vcpus_capped_at_the_server() {
    let mut w = World::new();
    w.server(
        "ovm",
        &with(
            &XEON,
            &[("cores", I(16)), ("sockets", I(2)), ("cluster", S("C1"))],
        ),
    );
    w.vm(
        "h1",
        &[
            ("server", S("ovm")),
            ("vcpus", I(4)),
            ("partitioning", S("hard")),
        ],
    );
    w.vm(
        "h2",
        &[
            ("server", S("ovm")),
            ("vcpus", I(14)),
            ("partitioning", S("hard")),
        ],
    );
    w.install("a", "ee", "h1", "EE");
    w.install("b", "ee2", "h1", "EE");
    w.install("c", "ee2", "h2", "EE");
    w.install("d", "se", "h1", "SE");
    w.product("ee", "").product("ee2", "").product("se", "");
    let o = w.run();
    let d = result(&o, "ee", 0);
    assert_eq!(d.quantity, "2");
    has_line(
        d,
        "ovm: min(4 (h1, hard partition), 16 cores) = 4 cores (factor 0.5)",
    );
    assert_eq!(weights(d), [("a".into(), "server:ovm".into(), "2".into())]);
    // 4 + 14 = 18 capped at 16 cores.
    let d = result(&o, "ee2", 0);
    assert_eq!(d.quantity, "8");
    // Socket basis: ceil(4 × 2 / 16) = 1 socket.
    let d = result(&o, "se", 0);
    assert_eq!(d.quantity, "1");
}

fn lpar_world(setting: &str) -> World {
    let mut w = World::new();
    w.rules(&format!(
        r#"{{"version":"t","uncapped_lpar":"{setting}","core_factors":[{{"vendor":"IBM","brand":"POWER9","factor":"1.0"}}]}}"#
    ));
    w.server("p9", &with(&POWER9, &[("cores", I(16))]));
    w.always("pool", "sp1", &[("server", S("p9")), ("cores", D("6"))]);
    w.vm(
        "l1",
        &[
            ("server", S("p9")),
            ("lpar_mode", S("uncapped")),
            ("virtual_processors", I(3)),
            ("pool", S("sp1")),
        ],
    );
    w.vm(
        "l2",
        &[
            ("server", S("p9")),
            ("lpar_mode", S("capped")),
            ("entitled_capacity", D("1.5")),
            ("pool", S("sp1")),
        ],
    );
    w.vm(
        "l3",
        &[
            ("server", S("p9")),
            ("lpar_mode", S("dedicated")),
            ("vcpus", I(2)),
            ("pool", S("sp1")),
        ],
    );
    for (k, vm) in [("i1", "l1"), ("i2", "l2"), ("i3", "l3")] {
        w.install(k, "db", vm, "EE");
    }
    w.product("db", "");
    w
}

#[test]
fn uncapped_lpar_under_each_setting() {
    // virtual_processors: min(3 VP, 6 pool cores) = 3; pool sp1: min(3 + 1.5, 6) = 4.5; + 2 = 6.5.
    let d = result(&lpar_world("virtual_processors").run(), "db", 0).clone();
    assert_eq!(d.quantity, "7");
    assert!(
        d.explanation[0].contains(
            "3 (l1, uncapped LPAR, uncapped_lpar virtual_processors: min(3 VP, 6 pool sp1 cores))"
        ),
        "{:?}",
        d.explanation
    );
    assert!(
        d.explanation[0].contains("dedicated LPAR, its pool sp1 ignored"),
        "{:?}",
        d.explanation
    );
    has_line(&d, "factor 1: 6.5 cores × 1 = 6.5 → 7");
    let mut ws = weights(&d);
    ws.sort();
    assert_eq!(
        ws,
        [
            ("i1".into(), "server:p9".into(), "3".into()),
            ("i2".into(), "server:p9".into(), "1.5".into()),
            ("i3".into(), "server:p9".into(), "2".into())
        ]
    );
    // pool: the pool's 6 cores; pool sp1: min(6 + 1.5, 6) = 6; + 2 = 8.
    let d = result(&lpar_world("pool").run(), "db", 0).clone();
    assert_eq!(d.quantity, "8");
    assert!(
        d.explanation[0].contains("uncapped_lpar pool"),
        "{:?}",
        d.explanation
    );
    // server: the whole server.
    let d = result(&lpar_world("server").run(), "db", 0).clone();
    assert_eq!(d.quantity, "16");
    assert!(
        d.explanation[0].contains("uncapped LPAR, uncapped_lpar server: l1"),
        "{:?}",
        d.explanation
    );
}

#[test]
fn unknown_host_counts_vcpus_at_the_default_factor() {
    let mut w = World::new();
    w.vm("orphan", &[("vcpus", I(4))]);
    w.vm(
        "lost",
        &[
            ("vcpus", I(3)),
            ("server", S("gone")),
            ("partitioning", S("hard")),
        ],
    );
    w.install("i1", "db", "orphan", "EE");
    w.install("i2", "db", "lost", "EE");
    w.product("db", "");
    let o = w.run();
    let d = result(&o, "db", 0);
    assert_eq!(d.quantity, "7");
    has_warning(d, "oracle_scope_unknown");
    has_line(
        d,
        "orphan (EE): 4 vCPU, unknown host = 4 cores (default factor 1)",
    );
    has_line(d, "factor 1: (3 + 4) cores × 1 = 7");
    assert!(weights(d).contains(&("i1".into(), "vm:orphan".into(), "4".into())));
}

#[test]
fn missing_attribute_fails_only_that_product_and_day() {
    let mut w = World::new();
    w.days = 2;
    // db-1 loses its cores on the second day.
    w.fact(
        "server",
        "db-1",
        D0 - DAY,
        D0 + DAY + 5 * HOUR,
        &with(&XEON, &[("cores", I(8))]),
    );
    w.fact("server", "db-1", D0 + DAY + 5 * HOUR, OPEN, &XEON);
    w.server("db-2", &with(&XEON, &[("cores", I(4))]));
    w.install("a", "p1", "db-1", "EE");
    w.install("b", "p2", "db-2", "EE");
    w.product("p1", "").product("p2", "");
    let o = w.run();
    assert_eq!(result(&o, "p1", 0).quantity, "4");
    assert!(
        !o.days
            .iter()
            .any(|d| d.product == "p1" && d.date == day(1).date)
    );
    assert_eq!(o.errors.len(), 1, "{:?}", o.errors);
    let e = &o.errors[0];
    assert_eq!(e.code, "missing_attribute");
    assert_eq!(e.product.as_deref(), Some("p1"));
    assert_eq!(e.date.as_deref(), Some(day(1).date.as_str()));
    assert_eq!(
        (e.fact_kind.as_deref(), e.fact_key.as_deref()),
        (Some("server"), Some("db-1"))
    );
    assert_eq!(e.attribute.as_deref(), Some("cores"));
    assert_eq!(e.at, Some(D0 + DAY + 5 * HOUR));
    assert_eq!(e.section.as_deref(), Some("SPEC §3.3.1"));
    assert_eq!(result(&o, "p2", 1).quantity, "2");
}

#[test]
fn socket_basis_needs_sockets_and_lpar_needs_its_capacity() {
    let mut w = World::new();
    w.server("s", &[("cores", I(8))]);
    w.vm("cap", &[("server", S("s")), ("lpar_mode", S("capped"))]);
    w.vm(
        "sh",
        &[
            ("server", S("s")),
            ("lpar_mode", S("shared")),
            ("vcpus", I(1)),
        ],
    );
    w.vm(
        "odd",
        &[
            ("server", S("s")),
            ("partitioning", S("x")),
            ("vcpus", I(1)),
        ],
    );
    w.install("a", "se", "s", "SE2");
    w.install("b", "lp", "cap", "EE");
    w.install("c", "sh", "sh", "EE");
    w.install("d", "odd", "odd", "EE");
    w.product("se", "")
        .product("lp", "")
        .product("sh", "")
        .product("odd", "");
    let o = w.run();
    let err = |p: &str| {
        o.errors
            .iter()
            .find(|e| e.product.as_deref() == Some(p))
            .unwrap()
    };
    assert_eq!(
        (err("se").code.as_str(), err("se").attribute.as_deref()),
        ("missing_attribute", Some("sockets"))
    );
    assert_eq!(err("lp").attribute.as_deref(), Some("entitled_capacity"));
    assert_eq!(err("lp").fact_key.as_deref(), Some("cap"));
    assert_eq!(
        (err("sh").code.as_str(), err("sh").attribute.as_deref()),
        ("invalid_value", Some("lpar_mode"))
    );
    assert_eq!(
        (err("odd").code.as_str(), err("odd").attribute.as_deref()),
        ("invalid_value", Some("partitioning"))
    );
    assert!(o.days.is_empty());
}

#[test]
fn mixed_bases_are_inconsistent() {
    let mut w = World::new();
    w.server("s1", &[("cores", I(8)), ("sockets", I(1))]);
    w.server("s2", &[("cores", I(8)), ("sockets", I(1))]);
    w.install("a", "db", "s1", "EE");
    w.install("b", "db", "s2", "SE2");
    w.product("db", "");
    let o = w.run();
    assert_eq!(o.errors.len(), 1);
    assert_eq!(o.errors[0].code, "inconsistent_facts");
    assert!(o.days.is_empty());
}

#[test]
fn a_day_without_installations_is_zero_and_a_partial_day_counts() {
    let mut w = World::new();
    w.days = 2;
    w.server("s", &[("cores", I(4))]);
    w.fact(
        "installation",
        "late",
        D0 + DAY + 12 * HOUR,
        D0 + DAY + 13 * HOUR,
        &[("product", S("db")), ("on", S("s"))],
    );
    w.product("db", "")
        .product("nobody", r#"{"measure":"nup"}"#);
    let o = w.run();
    let d0 = result(&o, "db", 0);
    assert_eq!(d0.quantity, "0");
    assert_eq!(
        d0.explanation,
        ["no installation of db counts on 2026-11-03 = 0 processors"]
    );
    let d1 = result(&o, "db", 1);
    assert_eq!(d1.quantity, "4");
    assert_eq!(d1.peak_at, D0 + DAY + 12 * HOUR);
    assert_eq!(d1.contributors[0].at, D0 + DAY + 12 * HOUR);
    has_warning(d1, "core_factor_unidentified");
    let n = result(&o, "nobody", 0);
    assert_eq!(n.quantity, "0");
    assert_eq!(n.metric, "ORACLE_NAMED_USER_PLUS");
    assert!(n.explanation[0].starts_with("no active assignment of license type nobody"));
}

#[test]
fn a_server_peaks_within_the_day_and_peak_at_is_the_highest_total() {
    let mut w = World::new();
    w.server("a", &with(&XEON, &[("cores", I(8))]));
    w.server("b", &with(&XEON, &[("cores", I(4))]));
    w.install("ia", "db", "a", "EE");
    // On b only from 10:00 to 11:00: b counts that day, and the total peaks at 10:00.
    w.fact(
        "installation",
        "ib",
        D0 + 10 * HOUR,
        D0 + 11 * HOUR,
        &[("product", S("db")), ("on", S("b"))],
    );
    let o = w.run_with(|w| w.product("db", ""));
    let d = result(&o, "db", 0);
    // (8 + 4) × 0.5 = 6.
    assert_eq!(d.quantity, "6");
    assert_eq!(d.peak_at, D0 + 10 * HOUR);
}

impl World {
    fn run_with(&mut self, f: impl FnOnce(&mut World) -> &mut World) -> Outcome {
        f(self);
        self.run()
    }
}

#[test]
fn edition_limits_warn_on_servers_without_changing_the_count() {
    let mut w = World::new();
    w.server(
        "big",
        &[("cores", I(16)), ("sockets", I(2)), ("max_sockets", I(4))],
    );
    w.install("i", "se2", "big", "SE2");
    w.product("se2", "");
    let o = w.run();
    let d = result(&o, "se2", 0);
    assert_eq!(d.quantity, "2");
    has_warning(d, "edition_limit_exceeded");
    assert!(
        d.warnings[0].contains("has 4 sockets (max_sockets), above the SE2 limit of 2"),
        "{:?}",
        d.warnings
    );
}

#[test]
fn processors_of_a_product_outside_the_evaluation_is_read_from_the_facts() {
    let mut w = World::new();
    w.server("s", &with(&XEON, &[("cores", I(4))]));
    w.install("i", "not-evaluated", "s", "EE");
    w.always(
        "assignment",
        "a",
        &[
            ("license_type", S("lt")),
            ("user", S("u1")),
            ("active", B(true)),
        ],
    );
    w.always(
        "assignment",
        "b",
        &[
            ("license_type", S("lt")),
            ("user", S("u2")),
            ("active", B(false)),
        ],
    );
    w.product(
        "nup",
        r#"{"measure":"nup","license_type":"lt","processors_of":"not-evaluated"}"#,
    );
    let o = w.run();
    let d = result(&o, "nup", 0);
    // 4 × 0.5 = 2 processors → minimum 50; one active user.
    assert_eq!(d.quantity, "50");
    assert_eq!(measure(d, "users"), "1");
    has_line(d, "processors of not-evaluated:");
    assert_eq!(d.contributors.len(), 1);
}

#[test]
fn bad_rule_data_and_parameters_are_reported_with_their_pointer() {
    let mut w = World::new();
    w.rules(
        r#"{"version":"t","core_factors":[{"vendor":"Intel","brand":"Xeon","factor":"-0.5"}]}"#,
    );
    w.product("db", "");
    let o = w.run();
    assert_eq!(o.errors[0].code, "rule_data_invalid");
    assert!(
        o.errors[0].message.contains("/core_factors/0/factor"),
        "{}",
        o.errors[0].message
    );

    let mut w = World::new();
    w.product("a", r#"{"measure":"nup"}"#)
        .product("b", r#"{"measure":"nup","processors_of":"a"}"#);
    let o = w.run();
    assert_eq!(o.errors[0].code, "product_parameter_invalid");
    assert!(
        o.errors[0].message.contains("/processors_of"),
        "{}",
        o.errors[0].message
    );
}

#[test]
fn a_vm_counts_once_and_a_moved_vm_counts_on_both_servers() {
    let mut w = World::new();
    w.server("a", &with(&XEON, &[("cores", I(16))]));
    w.server("b", &with(&XEON, &[("cores", I(8))]));
    w.vm(
        "h",
        &[
            ("server", S("a")),
            ("vcpus", I(4)),
            ("partitioning", S("hard")),
        ],
    );
    w.install("home1", "db", "h", "EE");
    w.install("home2", "db", "h", "EE");
    // m moves from a to b at 12:00 (vMotion): each server counts its own daily peak.
    w.fact(
        "vm",
        "m",
        D0 - DAY,
        D0 + 12 * HOUR,
        &[
            ("server", S("a")),
            ("vcpus", I(2)),
            ("partitioning", S("hard")),
        ],
    );
    w.fact(
        "vm",
        "m",
        D0 + 12 * HOUR,
        OPEN,
        &[
            ("server", S("b")),
            ("vcpus", I(2)),
            ("partitioning", S("hard")),
        ],
    );
    w.install("mig", "db2", "m", "EE");
    w.product("db", "").product("db2", "");
    let o = w.run();
    let d = result(&o, "db", 0);
    // 4 cores once, not 8: × 0.5 = 2, shared by the vm's two installations.
    assert_eq!(d.quantity, "2");
    assert_eq!(
        weights(d),
        [
            ("home1".into(), "server:a".into(), "1".into()),
            ("home2".into(), "server:a".into(), "1".into())
        ]
    );
    let d = result(&o, "db2", 0);
    has_line(d, "factor 0.5: (2 + 2) cores × 0.5 = 2");
    assert_eq!(d.quantity, "2");
}

#[test]
fn an_lpar_in_a_pool_of_another_server_is_inconsistent() {
    let mut w = World::new();
    w.server("p1", &with(&POWER9, &[("cores", I(16))]));
    w.server("p2", &with(&POWER9, &[("cores", I(16))]));
    w.always("pool", "sp", &[("server", S("p2")), ("cores", D("4"))]);
    w.vm(
        "l",
        &[
            ("server", S("p1")),
            ("lpar_mode", S("capped")),
            ("entitled_capacity", D("0.5")),
            ("pool", S("sp")),
        ],
    );
    w.vm(
        "u",
        &[
            ("server", S("p1")),
            ("lpar_mode", S("uncapped")),
            ("virtual_processors", I(2)),
            ("pool", S("none")),
        ],
    );
    w.install("i", "db", "l", "EE");
    w.install("j", "db2", "u", "EE");
    w.product("db", "").product("db2", "");
    let o = w.run();
    let code = |p: &str| {
        o.errors
            .iter()
            .find(|e| e.product.as_deref() == Some(p))
            .map(|e| e.code.clone())
    };
    assert_eq!(code("db").as_deref(), Some("inconsistent_facts"));
    assert_eq!(code("db2").as_deref(), Some("unknown_reference"));
}
