//! The plugin lifecycle, above evaluation: installing a component (validated, self-tested by
//! evaluating its bundled example, stored, activated), activation and rollback, loading rule
//! data, watching a plugins folder, and the replay harness the self-test and
//! `licmetric replay` share. The runtime below it only loads, holds and calls components.

pub mod install;
pub mod plugins_dir;
pub mod replay;
pub mod rule_data;
pub mod self_test;
