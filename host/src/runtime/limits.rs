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
    /// Plugin memory of the whole service: a call reserves its `memory_bytes` before it starts
    /// and waits (queues) while concurrent calls hold the rest, so N concurrent reads of a
    /// memory-hungry plugin cannot take the service past this. At least one call's cap.
    pub service_memory_bytes: usize,
    /// Most bytes the cache may keep of one product-day's results (its partitions' numbers,
    /// warnings and distinct identities): a plugin that answers more fails that day instead of
    /// growing the store without bound. 4 MiB holds a named-user day of ~150,000 identities.
    pub stored_day_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            cpu: Duration::from_secs(30),
            memory_bytes: 1 << 30,
            output_bytes: 256 << 20,
            log_lines: 64,
            service_memory_bytes: 4 << 30,
            stored_day_bytes: 4 << 20,
        }
    }
}

/// The service-wide memory budget of plugin calls: a counting semaphore in bytes.
///
/// Cost: one mutex lock to reserve and one to release per call; a call that does not fit waits
/// on a condition variable until another call's reservation is released.
pub struct MemoryBudget {
    total: usize,
    reserved: std::sync::Mutex<usize>,
    released: std::sync::Condvar,
}

/// Bytes of a [`MemoryBudget`] held by one call; given back when dropped.
pub struct Reservation<'b> {
    budget: &'b MemoryBudget,
    bytes: usize,
}

impl MemoryBudget {
    /// A budget of `total` bytes.
    pub fn new(total: usize) -> MemoryBudget {
        MemoryBudget {
            total,
            reserved: std::sync::Mutex::new(0),
            released: std::sync::Condvar::new(),
        }
    }

    /// Waits until `bytes` (capped at the total, so one call always fits) are free, and holds
    /// them.
    pub fn reserve(&self, bytes: usize) -> Reservation<'_> {
        let bytes = bytes.min(self.total);
        let mut reserved = self.reserved.lock().unwrap_or_else(|p| p.into_inner());
        while *reserved + bytes > self.total {
            reserved = self
                .released
                .wait(reserved)
                .unwrap_or_else(|p| p.into_inner());
        }
        *reserved += bytes;
        Reservation {
            budget: self,
            bytes,
        }
    }

    /// Bytes held by running calls now.
    pub fn reserved(&self) -> usize {
        *self.reserved.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        let mut reserved = self
            .budget
            .reserved
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        *reserved -= self.bytes;
        self.budget.released.notify_all();
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn calls_past_the_service_budget_wait_for_memory_instead_of_taking_it() {
        let budget = MemoryBudget::new(100);
        let peak = AtomicUsize::new(0);
        let running = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..6 {
                scope.spawn(|| {
                    let _held = budget.reserve(40);
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    assert!(budget.reserved() <= 100);
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    running.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        // 40 + 40 fit in 100, a third does not: never more than two at once, and all ran.
        assert!(peak.load(Ordering::SeqCst) <= 2);
        assert_eq!(budget.reserved(), 0);
        // A call bigger than the whole budget still runs alone rather than never.
        drop(budget.reserve(1_000));
    }
}
