//! `licmetric ingest FILE`: an NDJSON fact file streamed into a store in batches.
//!
//! The file is read a batch at a time (never whole), each batch validated and stored as one,
//! as `POST /api/v1/facts` would. On a terminal a progress bar shows bytes, facts per second
//! and the time left; otherwise one summary line goes to stderr. The first refused batch stops
//! the run: the message names the file's line and says which batches were stored before it.

use std::fs::File;
use std::io::{BufRead, BufReader, IsTerminal};
use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};

use crate::store::{BatchError, IngestReport, LineError, MAX_LINE_BYTES, Store};

/// Ingests `file` into the store at `data`, `batch_lines` lines per batch; the exit code
/// (0 stored, 2 a batch was refused).
pub fn run(file: &Path, data: &Path, batch_lines: usize) -> anyhow::Result<i32> {
    let store = Store::open(data)?;
    let opened = File::open(file).with_context(|| format!("reading {}", file.display()))?;
    let size = opened.metadata().map(|m| m.len()).unwrap_or(0);
    let mut reader = BufReader::new(opened);
    let progress = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(size);
        bar.set_style(
            ProgressStyle::with_template("{bytes}/{total_bytes} [{wide_bar}] {msg}, {eta} left")
                .expect("a valid template"),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let began = Instant::now();
    let mut total = IngestReport::default();
    let mut batch = Vec::new();
    // File lines read, and the first line of the batch being gathered.
    let (mut lines, mut first) = (0usize, 1usize);
    loop {
        let read = reader
            .read_until(b'\n', &mut batch)
            .with_context(|| format!("reading {}", file.display()))?;
        if read > 0 {
            lines += 1;
            progress.inc(read as u64);
        }
        let full = lines + 1 - first >= batch_lines.max(1);
        if (read == 0 || full) && !batch.is_empty() {
            match store.ingest_bytes(&batch, MAX_LINE_BYTES) {
                Ok(report) => {
                    total.received += report.received;
                    total.stored += report.stored;
                    total.duplicates += report.duplicates;
                    total.sequence = total.sequence.max(report.sequence);
                }
                Err(BatchError::Invalid(e)) => {
                    progress.abandon();
                    let at = LineError {
                        line: first + e.line - 1,
                        ..e
                    };
                    let earlier = if first == 1 {
                        "nothing from this file was stored".to_string()
                    } else {
                        format!("lines 1–{} were stored before it", first - 1)
                    };
                    eprintln!(
                        "licmetric: {}: {at}; the batch of lines {first}–{lines} was not stored; {earlier}",
                        file.display()
                    );
                    return Ok(2);
                }
                Err(BatchError::Storage(e)) => return Err(e),
            }
            batch.clear();
            first = lines + 1;
            let seconds = began.elapsed().as_secs_f64().max(1e-9);
            progress.set_message(format!("{:.0} facts/s", total.received as f64 / seconds));
        }
        if read == 0 {
            break;
        }
    }
    progress.finish_and_clear();
    let seconds = began.elapsed().as_secs_f64();
    eprintln!(
        "licmetric: {}: {} facts ({} new, {} already stored) in {seconds:.1} s, {:.0} facts/s",
        file.display(),
        total.received,
        total.stored,
        total.duplicates,
        total.received as f64 / seconds.max(1e-9)
    );
    println!("{}", serde_json::to_string(&total)?);
    Ok(0)
}
