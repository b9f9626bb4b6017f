//! The sandbox limits of one plugin call: CPU time (epoch deadline), memory, output size.

use std::time::Duration;

/// Per-evaluation limits. The defaults suit a 90-day evaluation of a large estate.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Wall-clock budget of one call (describe, prepare or evaluate), enforced by epochs.
    pub cpu: Duration,
    /// Most linear memory a plugin instance may grow to.
    pub memory_bytes: usize,
    /// Most bytes a plugin may return from one call.
    pub output_bytes: usize,
    /// Most diagnostic lines kept from one evaluation.
    pub log_lines: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            cpu: Duration::from_secs(30),
            memory_bytes: 1 << 30,
            output_bytes: 256 << 20,
            log_lines: 64,
        }
    }
}

/// Memory accounting for one store: refuses growth past the cap and remembers that it did, so
/// the error can say "memory cap" rather than a bare trap.
pub struct MemoryLimiter {
    pub cap: usize,
    pub exceeded: bool,
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.cap {
            self.exceeded = true;
            wasmtime::bail!(
                "plugin memory would grow to {desired} bytes, over its cap of {} bytes",
                self.cap
            );
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000)
    }
}
