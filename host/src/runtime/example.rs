//! A plugin's bundled example: the replay fixture `licmetric_sdk::bundle_example!` embeds as two
//! custom sections of the component's core module (`licmetric-example-case` = case.json,
//! `licmetric-example-facts` = facts.ndjson). Read once when a plugin is prepared; the upload
//! path evaluates it as the plugin's self-test (see lifecycle/self_test.rs).

use wasmparser::{Parser, Payload};

/// Custom section holding the example's `case.json`.
pub const CASE_SECTION: &str = "licmetric-example-case";
/// Custom section holding the example's `facts.ndjson`.
pub const FACTS_SECTION: &str = "licmetric-example-facts";

/// A bundled replay fixture: the text of its `case.json` and `facts.ndjson`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Example {
    pub case: String,
    pub facts: String,
}

/// The example bundled in a component (or in a core module), if any. Walks every nested module
/// and component once, without validating (the bytes were compiled already); costs one pass
/// over the bytes, well under a millisecond for a plugin. Refuses a section that is not UTF-8,
/// appears twice, or comes without its partner.
pub fn read(wasm: &[u8]) -> anyhow::Result<Option<Example>> {
    let mut case: Option<&[u8]> = None;
    let mut facts: Option<&[u8]> = None;
    for payload in Parser::new(0).parse_all(wasm) {
        let payload =
            payload.map_err(|e| anyhow::anyhow!("reading the component's sections: {e}"))?;
        let Payload::CustomSection(section) = payload else {
            continue;
        };
        let slot = match section.name() {
            CASE_SECTION => &mut case,
            FACTS_SECTION => &mut facts,
            _ => continue,
        };
        if slot.is_some() {
            anyhow::bail!(
                "the custom section {} appears twice: bundle one example",
                section.name()
            );
        }
        *slot = Some(section.data());
    }
    let text = |name: &str, bytes: &[u8]| -> anyhow::Result<String> {
        String::from_utf8(bytes.to_vec())
            .map_err(|e| anyhow::anyhow!("the example's custom section {name} is not UTF-8: {e}"))
    };
    match (case, facts) {
        (None, None) => Ok(None),
        (Some(c), Some(f)) => Ok(Some(Example {
            case: text(CASE_SECTION, c)?,
            facts: text(FACTS_SECTION, f)?,
        })),
        (Some(_), None) => anyhow::bail!(
            "the component has the custom section {CASE_SECTION} but not {FACTS_SECTION}"
        ),
        (None, Some(_)) => anyhow::bail!(
            "the component has the custom section {FACTS_SECTION} but not {CASE_SECTION}"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A core module with the given custom sections, each `(name, data)`.
    fn module(sections: &[(&str, &[u8])]) -> Vec<u8> {
        let mut bytes = b"\0asm\x01\0\0\0".to_vec();
        for (name, data) in sections {
            let mut body = leb(name.len());
            body.extend_from_slice(name.as_bytes());
            body.extend_from_slice(data);
            bytes.push(0);
            bytes.extend(leb(body.len()));
            bytes.extend(body);
        }
        bytes
    }

    /// A component wrapping `inner` as a nested core module.
    fn component(inner: &[u8]) -> Vec<u8> {
        let mut bytes = b"\0asm\x0d\0\x01\0".to_vec();
        bytes.push(1); // core module section
        bytes.extend(leb(inner.len()));
        bytes.extend_from_slice(inner);
        bytes
    }

    fn leb(mut n: usize) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return out;
            }
            out.push(byte | 0x80);
        }
    }

    #[test]
    fn finds_the_sections_in_a_nested_module() {
        let inner = module(&[
            ("other", b"x"),
            (CASE_SECTION, b"{\"title\":\"t\"}"),
            (FACTS_SECTION, b"{}\n"),
        ]);
        let example = read(&component(&inner)).unwrap().expect("an example");
        assert_eq!(example.case, "{\"title\":\"t\"}");
        assert_eq!(example.facts, "{}\n");
        assert_eq!(read(&component(&module(&[("other", b"x")]))).unwrap(), None);
    }

    #[test]
    fn refuses_half_an_example_a_duplicate_and_non_utf8() {
        let half = read(&component(&module(&[(CASE_SECTION, b"{}")]))).unwrap_err();
        assert!(format!("{half}").contains(FACTS_SECTION), "{half}");
        let twice = component(&module(&[
            (CASE_SECTION, b"{}"),
            (FACTS_SECTION, b""),
            (CASE_SECTION, b"{}"),
        ]));
        let e = read(&twice).unwrap_err();
        assert!(format!("{e}").contains("appears twice"), "{e}");
        let e = read(&module(&[(CASE_SECTION, b"{}"), (FACTS_SECTION, b"\xff")])).unwrap_err();
        assert!(format!("{e}").contains("not UTF-8"), "{e}");
    }
}
