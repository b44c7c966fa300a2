//! Engines: one per profile of engine-wide settings, each with its linker,
//! and the epoch ticker that drives timeouts.

use super::state::RunState;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::thread;
use std::time::Duration;
use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};
use weft_domain::Limits;

/// How often the epoch advances. A run's deadline is checked at each tick, so
/// this bounds how late a timeout fires for guest code.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(1);

/// Settings that wasmtime fixes per engine rather than per store. Runs that
/// differ in these use different engines (and compiled code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct EngineProfile {
    /// Whether code is instrumented to consume fuel.
    pub(crate) fuel: bool,
    /// The WebAssembly stack size, in bytes.
    pub(crate) max_stack: usize,
}

impl EngineProfile {
    pub(crate) fn for_limits(limits: &Limits) -> Self {
        EngineProfile {
            fuel: limits.fuel.is_some(),
            max_stack: usize::try_from(limits.max_stack).unwrap_or(usize::MAX),
        }
    }
}

/// How the sandbox allocates instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allocation {
    /// Pre-reserved slots for up to this many concurrent instances: fast
    /// instantiation and reset, at the cost of reserved address space.
    Pooling {
        /// Concurrent instances the pool holds.
        instances: u32,
    },
    /// Allocate each instance's memory when it is created.
    OnDemand,
}

/// One engine and its linker, with every host import weft provides.
pub(crate) struct EngineSlot {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<RunState>,
    pub(crate) allocation: Allocation,
}

fn config(profile: EngineProfile, allocation: Allocation) -> Config {
    let mut c = Config::new();
    c.wasm_component_model(true)
        .epoch_interruption(true)
        .consume_fuel(profile.fuel)
        .max_wasm_stack(profile.max_stack)
        // Host calls run on the same fiber stack as the guest: leave room.
        .async_stack_size(profile.max_stack + 2 * 1024 * 1024)
        .cranelift_opt_level(wasmtime::OptLevel::Speed)
        .wasm_exceptions(true);
    if let Allocation::Pooling { instances } = allocation {
        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(instances)
            .total_core_instances(instances.saturating_mul(4))
            .total_memories(instances.saturating_mul(2))
            .total_tables(instances.saturating_mul(4))
            .total_stacks(instances)
            .max_core_instances_per_component(64)
            .max_memories_per_component(16)
            .max_tables_per_component(32)
            .max_memories_per_module(1)
            .max_tables_per_module(4)
            .table_elements(100_000)
            .max_core_instance_size(4 * 1024 * 1024)
            .max_component_instance_size(1024 * 1024)
            .max_memory_size(usize::try_from(weft_domain::limits::MAX_MEMORY_CEILING).unwrap_or(usize::MAX))
            // Reset a slot's memory by copying back only the pages a run
            // dirtied (found with Linux's PAGEMAP_SCAN where the kernel has
            // it, 6.7 and later), keeping up to 4 MiB of them resident: the
            // next run of the same skill then neither faults them in again
            // nor pays for an madvise. Halves a trivial call and a
            // JavaScript script; `make bench` measures it.
            .pagemap_scan(wasmtime::Enabled::Auto)
            .linear_memory_keep_resident(4 * 1024 * 1024)
            .table_keep_resident(64 * 1024);
        c.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    c
}

/// Why an engine could not be made.
#[derive(Debug, thiserror::Error)]
#[error("cannot create the WebAssembly engine: {0}")]
pub struct EngineError(String);

impl EngineSlot {
    /// Makes an engine for `profile`; falls back to on-demand allocation if
    /// the pool cannot be reserved (for example under a tight address-space
    /// ulimit).
    pub(crate) fn new(profile: EngineProfile, allocation: Allocation) -> Result<EngineSlot, EngineError> {
        let (engine, allocation) = match Engine::new(&config(profile, allocation)) {
            Ok(e) => (e, allocation),
            Err(_) if allocation != Allocation::OnDemand => {
                let e =
                    Engine::new(&config(profile, Allocation::OnDemand)).map_err(|e| EngineError(format!("{e:#}")))?;
                (e, Allocation::OnDemand)
            }
            Err(e) => return Err(EngineError(format!("{e:#}"))),
        };
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(|e| EngineError(format!("{e:#}")))?;
        super::files::add_to_linker(&mut linker).map_err(|e| EngineError(format!("{e:#}")))?;
        super::host::SkillWorld::add_to_linker::<RunState, HasSelf<RunState>>(&mut linker, |s| s)
            .map_err(|e| EngineError(format!("{e:#}")))?;
        Ok(EngineSlot { engine, linker, allocation })
    }
}

/// Advances the epoch of every engine while any run is in flight, and sleeps
/// once none has been for a while. Stops when the sandbox is dropped.
pub(crate) struct EpochTicker {
    shared: Arc<TickerShared>,
    thread: thread::Thread,
}

struct TickerShared {
    engines: Mutex<Vec<Engine>>,
    active: AtomicUsize,
    /// Set while the thread is parked, so starting a run wakes it only then.
    parked: AtomicBool,
}

/// Ticks without a run before the ticker parks: short runs one after another
/// (a sequential workflow) keep it awake instead of waking it each time.
const IDLE_TICKS_BEFORE_PARKING: u32 = 100;

/// Held while a run is in flight; keeps the ticker ticking.
pub(crate) struct Ticking<'a>(&'a EpochTicker);

impl Drop for Ticking<'_> {
    fn drop(&mut self) {
        self.0.shared.active.fetch_sub(1, Ordering::AcqRel);
    }
}

impl EpochTicker {
    pub(crate) fn start() -> EpochTicker {
        let shared = Arc::new(TickerShared {
            engines: Mutex::new(Vec::new()),
            active: AtomicUsize::new(0),
            parked: AtomicBool::new(false),
        });
        let weak: Weak<TickerShared> = Arc::downgrade(&shared);
        let handle = thread::Builder::new()
            .name("weft-epoch".into())
            .spawn(move || {
                let mut idle = 0u32;
                loop {
                    let Some(shared) = weak.upgrade() else { return };
                    if shared.active.load(Ordering::Acquire) == 0 {
                        idle += 1;
                        if idle >= IDLE_TICKS_BEFORE_PARKING {
                            // SeqCst on both sides (here and in `ticking`): either
                            // this load sees the new run, or the run sees `parked`
                            // and unparks us.
                            shared.parked.store(true, Ordering::SeqCst);
                            if shared.active.load(Ordering::SeqCst) == 0 {
                                drop(shared);
                                thread::park_timeout(Duration::from_millis(200));
                            } else {
                                drop(shared);
                            }
                            if let Some(s) = weak.upgrade() {
                                s.parked.store(false, Ordering::SeqCst);
                            }
                            idle = 0;
                            continue;
                        }
                    } else {
                        idle = 0;
                    }
                    for e in shared.engines.lock().unwrap_or_else(|p| p.into_inner()).iter() {
                        e.increment_epoch();
                    }
                    drop(shared);
                    thread::sleep(EPOCH_TICK);
                }
            })
            .expect("spawn the epoch ticker thread");
        EpochTicker { shared, thread: handle.thread().clone() }
    }

    pub(crate) fn watch(&self, engine: &Engine) {
        self.shared.engines.lock().unwrap_or_else(|p| p.into_inner()).push(engine.clone());
    }

    /// Marks a run in flight until the guard drops.
    pub(crate) fn ticking(&self) -> Ticking<'_> {
        self.shared.active.fetch_add(1, Ordering::SeqCst);
        if self.shared.parked.load(Ordering::SeqCst) {
            self.thread.unpark();
        }
        Ticking(self)
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.thread.unpark();
    }
}
