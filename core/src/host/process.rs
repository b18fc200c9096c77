//! The processes of the machine from `/proc/<pid>/stat`: CPU time and
//! resident memory, for the top-processes lists.

use std::path::Path;

/// Most processes looked at per scan; more are left out (bounds the cost).
pub const MAX_PROCESSES: usize = 8192;

/// One process at one scan.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProcStat {
    /// Process id.
    pub pid: u32,
    /// The command name (`comm`, at most 15 bytes).
    pub name: String,
    /// User-mode CPU time, clock ticks.
    pub utime: u64,
    /// Kernel-mode CPU time, clock ticks.
    pub stime: u64,
    /// Start time after boot, clock ticks (tells a reused pid apart).
    pub start: u64,
    /// Resident set, pages.
    pub rss_pages: u64,
}

/// Parses one `/proc/<pid>/stat` line. The name sits in parentheses and
/// may itself hold spaces and parentheses: the last `)` ends it.
pub fn parse_stat(pid: u32, text: &str) -> Option<ProcStat> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let name = text.get(open + 1..close)?.to_owned();
    // Fields after the name, starting with field 3 (state) at index 0.
    let rest: Vec<&str> = text.get(close + 1..)?.split_ascii_whitespace().collect();
    let n = |field: usize| rest.get(field - 3).and_then(|v| v.parse::<u64>().ok());
    Some(ProcStat {
        pid,
        name,
        utime: n(14)?,
        stime: n(15)?,
        start: n(22)?,
        rss_pages: n(24)?,
    })
}

/// Every process below `proc_dir` (at most [`MAX_PROCESSES`]); ones that
/// end during the scan are skipped.
pub fn scan(proc_dir: &Path, out: &mut Vec<ProcStat>) {
    out.clear();
    let Ok(entries) = std::fs::read_dir(proc_dir) else {
        return;
    };
    let mut buf = String::with_capacity(512);
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        buf.clear();
        let path = entry.path().join("stat");
        let Ok(mut f) = std::fs::File::open(&path) else {
            continue;
        };
        if std::io::Read::read_to_string(&mut f, &mut buf).is_err() {
            continue;
        }
        if let Some(p) = parse_stat(pid, &buf) {
            out.push(p);
            if out.len() == MAX_PROCESSES {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_a_tricky_name() {
        let text = "6896 (my (odd) cmd) R 6890 6890 1501 0 -1 4194304 98 0 0 0 7 3 0 0 20 0 1 0 2098169 3133440 390 18446744073709551615 1 2";
        let p = parse_stat(6896, text).unwrap();
        assert_eq!(p.name, "my (odd) cmd");
        assert_eq!((p.utime, p.stime), (7, 3));
        assert_eq!(p.start, 2_098_169);
        assert_eq!(p.rss_pages, 390);
        assert!(parse_stat(1, "1 (x) R 0").is_none());
    }

    #[test]
    fn scan_finds_this_process() {
        let mut all = Vec::new();
        scan(Path::new("/proc"), &mut all);
        let me = all.iter().find(|p| p.pid == std::process::id()).unwrap();
        assert!(me.rss_pages > 0);
    }
}
