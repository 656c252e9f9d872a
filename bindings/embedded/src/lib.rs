//! What both example firmwares share: a heap that counts its peak, a stack that is painted
//! to measure how deep it went, and semihosting output and exit codes for QEMU.
//!
//! The measurements are those of `docs/benchmarks.md`: peak heap is the most bytes
//! allocated at once between [`measure`]'s start and end; the stack high-water mark is
//! how far below its painted start the stack was written during the measured call.
#![no_std]

use core::alloc::{GlobalAlloc, Layout};
use core::sync::atomic::{AtomicUsize, Ordering};

use cortex_m_semihosting::{debug, hprintln};
use embedded_alloc::LlffHeap;

/// Bytes of RAM given to the heap. One verify needs far less (`docs/benchmarks.md`);
/// the rest is headroom that the peak counter shows is unused.
pub const HEAP_SIZE: usize = 16 * 1024;

/// The global allocator: a linked-list first-fit heap with counters around it.
#[global_allocator]
static HEAP: CountingHeap = CountingHeap {
    heap: LlffHeap::empty(),
    current: AtomicUsize::new(0),
    peak: AtomicUsize::new(0),
};

/// `LlffHeap` with the bytes currently allocated and the most allocated at once.
struct CountingHeap {
    heap: LlffHeap,
    current: AtomicUsize,
    peak: AtomicUsize,
}

// SAFETY: every method forwards to `LlffHeap`'s own `GlobalAlloc` implementation with the
// caller's pointer and layout unchanged, so it keeps that implementation's contract; the
// counters only observe sizes.
unsafe impl GlobalAlloc for CountingHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's layout, which meets `alloc`'s contract.
        let ptr = unsafe { self.heap.alloc(layout) };
        if !ptr.is_null() {
            let now = self.current.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            self.peak.fetch_max(now, Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        self.current.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: `ptr` was allocated by this allocator with `layout` (the caller's contract).
        unsafe { self.heap.dealloc(ptr, layout) }
    }
}

/// Gives the heap its memory. Call once, first thing in `main`.
pub fn init_heap() {
    use core::mem::MaybeUninit;
    static mut MEMORY: [MaybeUninit<u8>; HEAP_SIZE] = [MaybeUninit::uninit(); HEAP_SIZE];
    // SAFETY: called once, before any allocation, on a static that nothing else touches;
    // `&raw mut` takes its address without making a reference to the `static mut`.
    unsafe { HEAP.heap.init((&raw mut MEMORY) as usize, HEAP_SIZE) }
}

/// What one call cost in memory.
pub struct Usage {
    /// Most bytes allocated at once during the call.
    pub peak_heap: usize,
    /// Deepest stack use during the call, from the top of RAM, in bytes.
    pub stack: usize,
}

/// Pattern the free stack is painted with; a word still holding it was never written.
const PAINT: u32 = 0xC0FF_EE55;

unsafe extern "C" {
    /// End of .bss and .data: the lowest address the stack may grow to (cortex-m-rt's
    /// link.x; the heap is a static inside .bss).
    static __sheap: u32;
    /// The top of RAM, where the stack starts (cortex-m-rt's link.x).
    static _stack_start: u32;
}

/// Runs `f` and measures its peak heap and the stack high-water mark.
#[inline(never)]
pub fn measure<T>(f: impl FnOnce() -> T) -> (T, Usage) {
    let low = (&raw const __sheap) as usize;
    let top = (&raw const _stack_start) as usize;
    paint(low);
    HEAP.peak
        .store(HEAP.current.load(Ordering::Relaxed), Ordering::Relaxed);
    let before = HEAP.current.load(Ordering::Relaxed);
    let out = f();
    let peak_heap = HEAP.peak.load(Ordering::Relaxed) - before;
    let mut lowest = top;
    let mut at = low;
    while at < top {
        // SAFETY: `at` is word-aligned and between the end of .bss and the top of RAM,
        // memory that belongs to no Rust object but the stack; it is only read.
        if unsafe { core::ptr::read_volatile(at as *const u32) } != PAINT {
            lowest = at;
            break;
        }
        at += 4;
    }
    (
        out,
        Usage {
            peak_heap,
            stack: top - lowest,
        },
    )
}

/// Paints the free stack, from `low` to a little below this function's own frame.
#[inline(never)]
fn paint(low: usize) {
    let sp = cortex_m::register::msp::read() as usize;
    // Leave this function's frame (and a margin for the calls it makes) alone.
    let end = (sp - 256) & !3;
    let mut at = (low + 3) & !3;
    while at < end {
        // SAFETY: the words from the end of .bss up to 256 bytes below the current stack
        // pointer are unused: no static lives there and the stack has not grown there
        // yet. Volatile, so that the writes are not removed as dead.
        unsafe { core::ptr::write_volatile(at as *mut u32, PAINT) };
        at += 4;
    }
}

/// Ends the QEMU run with success.
pub fn exit_success() -> ! {
    debug::exit(debug::EXIT_SUCCESS);
    // Only reached when not run under a semihosting debugger.
    loop {
        cortex_m::asm::bkpt();
    }
}

/// Ends the QEMU run with failure, saying why.
pub fn fail(why: &str) -> ! {
    hprintln!("FAIL: {}", why);
    debug::exit(debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::bkpt();
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    // The location only: the message may format arbitrary data, and a failing run needs
    // to say where, not more.
    match info.location() {
        Some(l) => hprintln!("PANIC at {}:{}", l.file(), l.line()),
        None => hprintln!("PANIC"),
    }
    debug::exit(debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::bkpt();
    }
}
