//! Reading the facts the host sends (SPEC §2).
//!
//! The host sends, per requested kind, a column-wise [`Timeline`]: strings are interned in one
//! table and every value is an `i64` (a string index, an integer, 0/1, or an instant in ms), so
//! crossing the boundary costs a memcpy. [`Facts`] pairs each timeline with the request that
//! asked for it, so a plugin reads values by attribute name. The `standard` module lists the
//! standard kinds' attributes with their types, and [`Session`] / [`Denial`] are typed views.

use crate::Exact;
use crate::types::{
    Attribute, Evaluation, FactRequest, InstantSelection, IntervalSelection, Selection,
    StringTable, Timeline, ValueType,
};

/// A hash map for keys taken from facts: foldhash, several times faster than SipHash on short
/// keys (hashing 300k keys a call showed in profiles, SipHash most of all in wasm). Natively it
/// is seeded per process, as std's maps are, against crafted collisions; a plugin has no clock
/// or randomness to seed from (the sandbox grants none), so there it is fixed, and its CPU
/// budget bounds what a crafted estate can cost to that plugin's own evaluation.
#[cfg(not(target_family = "wasm"))]
pub type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
/// See the native definition: fixed seed in the sandbox.
#[cfg(target_family = "wasm")]
pub type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::FixedState>;

/// The value the host writes for an absent attribute.
pub const ABSENT: i64 = i64::MIN;
/// The `to` of a state that still holds.
pub const OPEN: i64 = i64::MAX;

/// Builds a [`StringTable`] the way the host does for an evaluation: each distinct string once,
/// index 0 the empty string. The host uses it to send facts; tests use it to build evaluations
/// by hand.
///
/// Cost: one hash and, on a hit, one comparison per string; a new string is copied into the
/// table and kept once more as the index's key. (An index holding only numbers into the table
/// read 1M sessions faster, but left the heap such that the next cached report of the estate
/// took 2-3 times as long: docs/BENCHMARKS.md.)
#[derive(Debug, Clone)]
pub struct Interner {
    bytes: Vec<u8>,
    ends: Vec<u32>,
    index: FastMap<String, u32>,
}

impl Default for Interner {
    fn default() -> Self {
        Interner {
            bytes: Vec::new(),
            ends: vec![0],
            index: FastMap::from_iter([(String::new(), 0)]),
        }
    }
}

/// String `i` of a table being built.
fn entry<'t>(bytes: &'t [u8], ends: &[u32], i: u32) -> &'t [u8] {
    let i = i as usize;
    let start = if i == 0 { 0 } else { ends[i - 1] as usize };
    &bytes[start..ends[i] as usize]
}

impl Interner {
    /// The index of `s`, adding it on first use.
    pub fn intern(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        self.bytes.extend_from_slice(s.as_bytes());
        self.ends.push(self.bytes.len() as u32);
        let i = (self.ends.len() - 1) as u32;
        self.index.insert(s.to_string(), i);
        i
    }

    /// The index of `s`, if it was interned.
    pub fn get(&self, s: &str) -> Option<u32> {
        self.index.get(s).copied()
    }

    /// Adds every string of `other` and returns, for each of `other`'s indices, its index
    /// here: what turns columns interned apart (on several threads) into one table.
    pub fn absorb(&mut self, other: &Interner) -> Vec<u32> {
        (0..other.ends.len() as u32)
            .map(|i| {
                let s = entry(&other.bytes, &other.ends, i);
                // Interned from &str, so each entry is UTF-8.
                self.intern(std::str::from_utf8(s).expect("interned strings are UTF-8"))
            })
            .collect()
    }

    /// A copy of the table so far.
    pub fn table(&self) -> StringTable {
        StringTable {
            bytes: self.bytes.clone(),
            ends: self.ends.clone(),
        }
    }

    /// The finished table.
    pub fn into_table(self) -> StringTable {
        StringTable {
            bytes: self.bytes,
            ends: self.ends,
        }
    }
}

/// The interned strings of one evaluation.
#[derive(Clone, Copy)]
pub struct Strings<'a> {
    table: &'a StringTable,
}

impl<'a> Strings<'a> {
    /// Wraps the evaluation's string table.
    pub fn new(table: &'a StringTable) -> Self {
        Strings { table }
    }

    /// String `index` ("" for an index out of range or invalid UTF-8: the host never sends one).
    pub fn get(&self, index: u32) -> &'a str {
        let i = index as usize;
        let end = match self.table.ends.get(i) {
            Some(&e) => e as usize,
            None => return "",
        };
        let start = if i == 0 {
            0
        } else {
            self.table.ends[i - 1] as usize
        };
        self.table
            .bytes
            .get(start..end)
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or("")
    }
}

/// All timelines of one evaluation, each paired with its request.
pub struct Facts<'a> {
    pub strings: Strings<'a>,
    kinds: Vec<Kind<'a>>,
    explaining: bool,
}

impl<'a> Facts<'a> {
    /// Pairs `input.timelines` with `requests` (the list `prepare` returned, same order).
    pub fn new(input: &'a Evaluation, requests: &'a [FactRequest]) -> Self {
        let strings = Strings::new(&input.strings);
        let kinds = input
            .timelines
            .iter()
            .zip(requests)
            .map(|(timeline, request)| Kind {
                strings,
                timeline,
                request,
            })
            .collect();
        Facts {
            strings,
            kinds,
            explaining: true,
        }
    }

    /// The same facts, for an evaluation that does (`true`, the default) or does not want
    /// contributors and explanation lines.
    pub fn explaining(mut self, explaining: bool) -> Self {
        self.explaining = explaining;
        self
    }

    /// Whether the host asked who held each peak and why (`explain`), rather than only the
    /// numbers (`evaluate`). Skip building contributors and explanations when false.
    pub fn is_explaining(&self) -> bool {
        self.explaining
    }

    /// The timeline of `kind` (empty when the plugin did not request it).
    pub fn kind(&self, kind: &str) -> Option<&Kind<'a>> {
        self.kinds.iter().find(|k| k.request.kind == kind)
    }
}

/// The states of one kind.
pub struct Kind<'a> {
    strings: Strings<'a>,
    timeline: &'a Timeline,
    request: &'a FactRequest,
}

impl<'a> Kind<'a> {
    /// Column index of attribute `name`, if it was requested.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.request.attributes.iter().position(|a| a.name == name)
    }

    /// Column indices of several attributes at once (resolve them once, outside a loop).
    pub fn columns<const N: usize>(&self, names: [&str; N]) -> [Option<usize>; N] {
        names.map(|name| self.column(name))
    }

    /// Number of states.
    pub fn len(&self) -> usize {
        self.timeline.entity.len()
    }

    /// True when there are no states.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// State `i`.
    pub fn state(&self, i: usize) -> State<'_, 'a> {
        State { kind: self, i }
    }

    /// Every state, in the host's order (by entity key, then time).
    pub fn states(&self) -> impl Iterator<Item = State<'_, 'a>> {
        (0..self.len()).map(move |i| self.state(i))
    }
}

/// One state of one entity: its key, interval and attribute values.
#[derive(Clone, Copy)]
pub struct State<'k, 'a> {
    kind: &'k Kind<'a>,
    i: usize,
}

impl<'k, 'a> State<'k, 'a> {
    /// The entity's key.
    pub fn key(&self) -> &'a str {
        self.kind.strings.get(self.kind.timeline.entity[self.i])
    }

    /// Start of the state (ms).
    pub fn from(&self) -> i64 {
        self.kind.timeline.from[self.i]
    }

    /// End of the state (ms, exclusive); [`OPEN`] when it still holds.
    pub fn to(&self) -> i64 {
        self.kind.timeline.to[self.i]
    }

    fn raw(&self, column: Option<usize>) -> Option<i64> {
        let v = *self.kind.timeline.columns.get(column?)?.get(self.i)?;
        (v != ABSENT).then_some(v)
    }

    /// A text attribute by column index.
    pub fn text_at(&self, column: Option<usize>) -> Option<&'a str> {
        self.raw(column).map(|v| self.kind.strings.get(v as u32))
    }

    /// A text attribute.
    pub fn text(&self, name: &str) -> Option<&'a str> {
        self.text_at(self.kind.column(name))
    }

    /// An integer (or time, or boolean as 0/1) attribute by column index.
    pub fn int_at(&self, column: Option<usize>) -> Option<i64> {
        self.raw(column)
    }

    /// An integer attribute.
    pub fn int(&self, name: &str) -> Option<i64> {
        self.int_at(self.kind.column(name))
    }

    /// A time attribute (ms).
    pub fn time(&self, name: &str) -> Option<i64> {
        self.int(name)
    }

    /// A boolean attribute.
    pub fn boolean(&self, name: &str) -> Option<bool> {
        self.int(name).map(|v| v != 0)
    }

    /// A decimal attribute, exact. The host validated it at ingest.
    pub fn decimal(&self, name: &str) -> Option<Exact> {
        self.text(name).and_then(|t| t.parse().ok())
    }
}

/// Builds a fact request for `kind` with `attributes` as (name, type) pairs.
pub fn request(kind: &str, attributes: &[(&str, ValueType)], selection: Selection) -> FactRequest {
    FactRequest {
        kind: kind.to_string(),
        attributes: attributes
            .iter()
            .map(|(name, ty)| Attribute {
                name: name.to_string(),
                type_: *ty,
            })
            .collect(),
        selection,
    }
}

/// The standard fact kinds (SPEC §2) and their attributes, typed as the host validates them.
pub mod standard {
    use super::ValueType::{self, Boolean as B, Decimal as D, Integer as I, Text as S, Time as T};

    /// Organisation attributes any fact may carry (SPEC §2.14).
    pub const ORGANISATION: &[(&str, ValueType)] =
        &[("cost_center", S), ("location", S), ("corporate_unit", S)];

    /// `server` (SPEC §2.4).
    pub const SERVER: &[(&str, ValueType)] = &[
        ("cores", I),
        ("sockets", I),
        ("max_sockets", I),
        ("processor_vendor", S),
        ("processor_brand", S),
        ("processor_model", S),
        ("server_model", S),
        ("threads_per_core", I),
        ("pvu_per_core", I),
        ("core_factor", D),
        ("region", S),
        ("cluster", S),
        ("vcenter", S),
        ("cloud", S),
        ("hypervisor_data", B),
    ];
    /// `pool` (SPEC §2.5).
    pub const POOL: &[(&str, ValueType)] = &[("server", S), ("cores", D)];
    /// `vm` (SPEC §2.6).
    pub const VM: &[(&str, ValueType)] = &[
        ("server", S),
        ("vcpus", I),
        ("partitioning", S),
        ("lpar_mode", S),
        ("entitled_capacity", D),
        ("virtual_processors", I),
        ("pool", S),
        ("threads", I),
        ("cloud", S),
        ("threads_per_core", I),
    ];
    /// `installation` (SPEC §2.7).
    pub const INSTALLATION: &[(&str, ValueType)] = &[
        ("product", S),
        ("on", S),
        ("edition", S),
        ("on_kind", S),
        ("owner", S),
    ];
    /// `node` (SPEC §2.8).
    pub const NODE: &[(&str, ValueType)] = &[
        ("cluster", S),
        ("capacity_cores", D),
        ("threads_per_core", I),
        ("pvu_per_core", I),
        ("processor_vendor", S),
        ("processor_brand", S),
        ("processor_model", S),
    ];
    /// `pod` (SPEC §2.9).
    pub const POD: &[(&str, ValueType)] = &[
        ("cluster", S),
        ("node", S),
        ("namespace", S),
        ("product", S),
        ("cpu_limit_cores", D),
        ("bundle", S),
        ("ratio", S),
    ];
    /// `namespace` (SPEC §2.10).
    pub const NAMESPACE: &[(&str, ValueType)] = &[("cluster", S), ("group", S)];
    /// `session` (SPEC §2.11).
    pub const SESSION: &[(&str, ValueType)] = &[
        ("license_type", S),
        ("user", S),
        ("start", T),
        ("end", T),
        ("host", S),
        ("display", S),
        ("space", S),
        ("count", I),
    ];
    /// `denial` (SPEC §2.12).
    pub const DENIAL: &[(&str, ValueType)] = &[
        ("license_type", S),
        ("user", S),
        ("time", T),
        ("ultimate", B),
    ];
    /// `assignment` (SPEC §2.13).
    pub const ASSIGNMENT: &[(&str, ValueType)] = &[
        ("license_type", S),
        ("user", S),
        ("active", B),
        ("device", B),
    ];

    /// The attributes of a standard kind, `None` for any other kind.
    pub fn attributes(kind: &str) -> Option<&'static [(&'static str, ValueType)]> {
        Some(match kind {
            "server" => SERVER,
            "pool" => POOL,
            "vm" => VM,
            "installation" => INSTALLATION,
            "node" => NODE,
            "pod" => POD,
            "namespace" => NAMESPACE,
            "session" => SESSION,
            "denial" => DENIAL,
            "assignment" => ASSIGNMENT,
            _ => return None,
        })
    }

    /// Attributes that must be present on a standard kind's observation (checked by the host
    /// only where the SPEC says "required" without a rule condition).
    pub fn required(kind: &str) -> &'static [&'static str] {
        match kind {
            "pool" => &["server", "cores"],
            "installation" => &["product", "on"],
            "node" => &["cluster", "capacity_cores"],
            "pod" => &["cluster", "namespace", "product"],
            "namespace" => &["cluster"],
            "session" => &["license_type", "user", "start"],
            "denial" => &["license_type", "user", "time"],
            "assignment" => &["license_type", "user", "active"],
            _ => &[],
        }
    }
}

fn with_organisation(attrs: &[(&'static str, ValueType)]) -> Vec<(&'static str, ValueType)> {
    let mut all = attrs.to_vec();
    all.extend_from_slice(standard::ORGANISATION);
    all
}

/// The request for sessions whose `[start, end + margin)` meets the evaluated days.
pub fn session_request(margin_ms: i64) -> FactRequest {
    request(
        "session",
        &with_organisation(standard::SESSION),
        Selection::Intervals(IntervalSelection {
            start: "start".into(),
            end: "end".into(),
            margin_ms,
        }),
    )
}

/// The request for denials whose time lies in the evaluated days, or `margin_ms` before them.
pub fn denial_request(margin_ms: i64) -> FactRequest {
    request(
        "denial",
        &with_organisation(standard::DENIAL),
        Selection::Instants(InstantSelection {
            time: "time".into(),
            margin_ms,
        }),
    )
}

/// A typed session (SPEC §2.11).
#[derive(Debug, Clone)]
pub struct Session<'a> {
    pub key: &'a str,
    pub license_type: &'a str,
    pub user: &'a str,
    pub start: i64,
    /// `None`: still open.
    pub end: Option<i64>,
    pub host: Option<&'a str>,
    pub display: Option<&'a str>,
    pub space: Option<&'a str>,
    /// Licences the holding takes (default 1).
    pub count: i64,
    /// Organisation attributes present on the session.
    pub organisation: Vec<(&'static str, &'a str)>,
}

/// Why a fact could not be read as its typed view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingAttribute {
    pub kind: &'static str,
    pub key: String,
    pub attribute: &'static str,
}

/// The organisation attributes a kind was sent with and their columns, resolved once per kind
/// (by name per state, this lookup was a visible share of reading a million sessions).
fn organisation_columns(kind: &Kind<'_>) -> Vec<(&'static str, usize)> {
    standard::ORGANISATION
        .iter()
        .filter_map(|(name, _)| kind.column(name).map(|c| (*name, c)))
        .collect()
}

fn organisation<'a>(
    state: &State<'_, 'a>,
    columns: &[(&'static str, usize)],
) -> Vec<(&'static str, &'a str)> {
    columns
        .iter()
        .filter_map(|&(name, c)| state.text_at(Some(c)).map(|v| (name, v)))
        .collect()
}

impl<'a> Session<'a> {
    /// Reads every session of the evaluation (an empty list when none were requested).
    pub fn all(facts: &Facts<'a>) -> Result<Vec<Session<'a>>, MissingAttribute> {
        let Some(kind) = facts.kind("session") else {
            return Ok(Vec::new());
        };
        let col = |n: &str| kind.column(n);
        let (lt, user, start, end) = (col("license_type"), col("user"), col("start"), col("end"));
        let (host, display, space, count) =
            (col("host"), col("display"), col("space"), col("count"));
        let organisation_columns = organisation_columns(kind);
        let missing = |s: &State<'_, 'a>, attribute| MissingAttribute {
            kind: "session",
            key: s.key().to_string(),
            attribute,
        };
        kind.states()
            .map(|s| {
                Ok(Session {
                    key: s.key(),
                    license_type: s.text_at(lt).ok_or_else(|| missing(&s, "license_type"))?,
                    user: s.text_at(user).ok_or_else(|| missing(&s, "user"))?,
                    start: s.int_at(start).ok_or_else(|| missing(&s, "start"))?,
                    end: s.int_at(end),
                    host: s.text_at(host),
                    display: s.text_at(display),
                    space: s.text_at(space),
                    count: s.int_at(count).unwrap_or(1),
                    organisation: organisation(&s, &organisation_columns),
                })
            })
            .collect()
    }
}

/// A typed denial (SPEC §2.12).
#[derive(Debug, Clone)]
pub struct Denial<'a> {
    pub key: &'a str,
    pub license_type: &'a str,
    pub user: &'a str,
    pub time: i64,
    pub ultimate: Option<bool>,
}

impl<'a> Denial<'a> {
    /// Reads every denial of the evaluation (an empty list when none were requested).
    pub fn all(facts: &Facts<'a>) -> Result<Vec<Denial<'a>>, MissingAttribute> {
        let Some(kind) = facts.kind("denial") else {
            return Ok(Vec::new());
        };
        let (lt, user, time, ultimate) = (
            kind.column("license_type"),
            kind.column("user"),
            kind.column("time"),
            kind.column("ultimate"),
        );
        let missing = |s: &State<'_, 'a>, attribute| MissingAttribute {
            kind: "denial",
            key: s.key().to_string(),
            attribute,
        };
        kind.states()
            .map(|s| {
                Ok(Denial {
                    key: s.key(),
                    license_type: s.text_at(lt).ok_or_else(|| missing(&s, "license_type"))?,
                    user: s.text_at(user).ok_or_else(|| missing(&s, "user"))?,
                    time: s.int_at(time).ok_or_else(|| missing(&s, "time"))?,
                    ultimate: s.int_at(ultimate).map(|v| v != 0),
                })
            })
            .collect()
    }
}
