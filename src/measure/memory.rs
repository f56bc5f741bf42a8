//! Memory readings of this process: resident and proportional set size and
//! virtual size from procfs, host heap in use from glibc's `mallinfo2`, and
//! how much of a range (a wasm linear memory) is resident, from `mincore`.

use crate::run::MemoryPoint;

/// Reads the process's memory now. Fails where procfs is missing (not Linux).
pub fn read(label: &str) -> std::io::Result<MemoryPoint> {
    // smaps_rollup sums every mapping: Rss and Pss in one read. VmSize is in
    // status.
    let rollup = std::fs::read_to_string("/proc/self/smaps_rollup").ok();
    let status = std::fs::read_to_string("/proc/self/status")?;
    let rss = rollup
        .as_deref()
        .and_then(|r| kb_field(r, "Rss:"))
        .or_else(|| kb_field(&status, "VmRSS:"))
        .ok_or_else(|| std::io::Error::other("no Rss in /proc/self"))?;
    let virtual_bytes = kb_field(&status, "VmSize:")
        .ok_or_else(|| std::io::Error::other("no VmSize in /proc/self/status"))?;
    Ok(MemoryPoint {
        label: label.to_owned(),
        rss_bytes: rss,
        pss_bytes: rollup.as_deref().and_then(|r| kb_field(r, "Pss:")),
        virtual_bytes,
        heap_bytes: heap_in_use(),
        ..MemoryPoint::default()
    })
}

/// A `Name:   1234 kB` field, in bytes.
fn kb_field(text: &str, name: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(name))?;
    let kb: u64 = line[name.len()..].split_whitespace().next()?.parse().ok()?;
    Some(kb * 1024)
}

/// Host heap in use: what glibc's malloc has handed out and not had back,
/// in its arenas and in chunks it mmapped. Read from the allocator's own
/// books, so it costs nothing while the program runs.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn heap_in_use() -> Option<u64> {
    // SAFETY: mallinfo2 only reads the allocator's statistics.
    let info = unsafe { libc::mallinfo2() };
    Some((info.uordblks + info.hblkhd) as u64)
}

/// Not available off glibc.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn heap_in_use() -> Option<u64> {
    None
}

/// Bytes of `[ptr, ptr + len)` resident in RAM. The range need not be page
/// aligned; whole pages are counted.
pub fn resident_bytes(ptr: *const u8, len: usize) -> std::io::Result<u64> {
    if len == 0 {
        return Ok(0);
    }
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
    let start = ptr as usize & !(page - 1);
    let end = (ptr as usize + len).div_ceil(page) * page;
    let pages = (end - start) / page;
    let mut vec = vec![0u8; pages];
    // SAFETY: the range is mapped (it is a live linear memory) and `vec`
    // holds one byte per page, as mincore requires.
    let rc = unsafe { libc::mincore(start as *mut libc::c_void, end - start, vec.as_mut_ptr()) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(vec.iter().filter(|&&b| b & 1 == 1).count() as u64 * page as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readings_see_touched_memory() {
        let before = read("before").unwrap();
        assert!(before.rss_bytes > 0 && before.virtual_bytes >= before.rss_bytes);
        let mut big = vec![0u8; 32 << 20];
        for i in (0..big.len()).step_by(4096) {
            big[i] = 1;
        }
        let after = read("after").unwrap();
        assert!(
            after.rss_bytes >= before.rss_bytes + (30 << 20),
            "{before:?} {after:?}"
        );
        assert!(resident_bytes(big.as_ptr(), big.len()).unwrap() >= 30 << 20);
        if let (Some(a), Some(b)) = (after.heap_bytes, before.heap_bytes) {
            // Other tests run in parallel and free what they had: allow slack.
            assert!(a >= b + (30 << 20), "heap {b} -> {a}");
        }
        std::hint::black_box(&big);
    }

    #[test]
    fn untouched_memory_is_not_resident() {
        // SAFETY: a fresh anonymous mapping, unmapped below.
        let len = 16 << 20;
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(p, libc::MAP_FAILED);
        // Transparent huge pages would make one touch fault in 2 MiB.
        // SAFETY: advice on the mapping made above.
        unsafe { libc::madvise(p, len, libc::MADV_NOHUGEPAGE) };
        assert_eq!(resident_bytes(p as *const u8, len).unwrap(), 0);
        // SAFETY: p is a mapping of len bytes, written within bounds.
        unsafe { *(p as *mut u8).add(8192) = 1 };
        assert_eq!(resident_bytes(p as *const u8, len).unwrap(), 4096);
        // SAFETY: unmapping what was mapped above.
        unsafe { libc::munmap(p, len) };
    }
}
