//! The segment log against real files in a temporary directory.

use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tempfile::tempdir;

use super::*;

const FORMAT: SegmentFormat = SegmentFormat {
    magic: *b"TESTSEGS",
    prefix: "t-",
    suffix: ".tst",
    version: 3,
    min_version: 2,
};

fn frame(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_frame(kind, &mut out, |b| {
        b.extend_from_slice(body);
        Ok::<(), String>(())
    })
    .unwrap();
    out
}

/// A segment of `version` holding frames of kinds 1, 2 and 3; returns its
/// path and the offsets of the frames.
fn segment_of(dir: &Path, version: u32) -> (PathBuf, Vec<u64>) {
    let path = dir.join(FORMAT.file_name(1, u64::from(version)));
    let mut bytes = FORMAT.header_of_version(version).to_vec();
    let mut offsets = Vec::new();
    for kind in 1..=3u8 {
        offsets.push(bytes.len() as u64);
        bytes.extend(frame(kind, &[kind; 20]));
    }
    fs::write(&path, bytes).unwrap();
    (path, offsets)
}

fn scan(path: &Path) -> (Vec<Frame>, Vec<FrameIssue>) {
    let mut frames = Vec::new();
    let issues = scan_segment(&FORMAT, path, |f| frames.push(f));
    (frames, issues)
}

fn kinds(frames: &[Frame]) -> Vec<u8> {
    frames.iter().map(|f| f.payload[0]).collect()
}

fn config(dir: &Path) -> LogConfig {
    let mut c = LogConfig::new(dir);
    c.segment_bytes = 100;
    c
}

#[test]
fn names_sort_by_time_then_sequence_and_parse_back() {
    let a = FORMAT.file_name(9, 10);
    let b = FORMAT.file_name(10, 2);
    assert!(a < b);
    assert_eq!(a, "t-0000000000000009-0000000010.tst");
    assert_eq!(FORMAT.parse_file_name(&b), Some((10, 2)));
    assert_eq!(FORMAT.parse_file_name("t-1-2.osp"), None);
    assert_eq!(FORMAT.parse_file_name("t-x-2.tst"), None);
    assert_eq!(FORMAT.parse_file_name("notes.txt"), None);
}

#[test]
fn a_frame_carries_length_and_crc_of_its_payload() {
    let out = frame(7, b"body");
    assert_eq!(out.len(), 8 + 5);
    assert_eq!(out[..4], 5u32.to_le_bytes());
    assert_eq!(out[4..8], crc32fast::hash(b"\x07body").to_le_bytes());
    assert_eq!(out[8..], *b"\x07body");
}

#[test]
fn a_failed_body_leaves_the_buffer_as_it_was() {
    let mut out = frame(1, b"kept");
    let before = out.clone();
    let err = encode_frame(2, &mut out, |b| {
        b.extend_from_slice(b"partial");
        Err("no")
    })
    .unwrap_err();
    assert_eq!(err, FrameError::Body("no"));
    assert_eq!(out, before);
}

#[test]
fn every_frame_of_an_intact_segment_is_read_in_order() {
    let dir = tempdir().unwrap();
    let (path, offsets) = segment_of(dir.path(), 3);
    let (frames, issues) = scan(&path);
    assert!(issues.is_empty(), "{issues:?}");
    assert_eq!(kinds(&frames), [1, 2, 3]);
    assert_eq!(frames.iter().map(|f| f.offset).collect::<Vec<_>>(), offsets);
    assert_eq!(frames[1].payload, [&[2u8][..], &[2; 20]].concat());
    let reader = SegmentReader::open(&FORMAT, &path).unwrap();
    assert_eq!(reader.version(), 3);
}

#[test]
fn a_torn_tail_ends_the_scan_and_keeps_what_came_before() {
    let dir = tempdir().unwrap();
    let (path, offsets) = segment_of(dir.path(), 3);
    let full = fs::metadata(&path).unwrap().len();
    // Cut inside the last payload, then inside the last frame header.
    for cut in [full - 5, offsets[2] + 3] {
        OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(cut)
            .unwrap();
        let (frames, issues) = scan(&path);
        assert_eq!(kinds(&frames), [1, 2]);
        assert_eq!(
            issues,
            [FrameIssue {
                offset: offsets[2],
                problem: FrameProblem::TornTail
            }]
        );
    }
}

#[test]
fn a_checksum_mismatch_skips_one_frame() {
    let dir = tempdir().unwrap();
    let (path, offsets) = segment_of(dir.path(), 3);
    let mut bytes = fs::read(&path).unwrap();
    bytes[offsets[1] as usize + 12] ^= 0xff;
    fs::write(&path, &bytes).unwrap();
    let (frames, issues) = scan(&path);
    assert_eq!(kinds(&frames), [1, 3]);
    assert_eq!(
        issues,
        [FrameIssue {
            offset: offsets[1],
            problem: FrameProblem::BadChecksum
        }]
    );
    let err = read_frame_at(&path, offsets[1]).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
    assert_eq!(read_frame_at(&path, offsets[2]).unwrap(), frames[1].payload);
}

#[test]
fn an_impossible_length_ends_the_scan() {
    let dir = tempdir().unwrap();
    let (path, offsets) = segment_of(dir.path(), 3);
    let mut bytes = fs::read(&path).unwrap();
    let at = offsets[1] as usize;
    bytes[at..at + 4].copy_from_slice(&0u32.to_le_bytes());
    fs::write(&path, &bytes).unwrap();
    let (frames, issues) = scan(&path);
    assert_eq!(kinds(&frames), [1]);
    assert_eq!(issues[0].problem, FrameProblem::BadLength(0));
    assert_eq!(issues.len(), 1);
    bytes[at..at + 4].copy_from_slice(&(MAX_PAYLOAD_BYTES + 1).to_le_bytes());
    fs::write(&path, &bytes).unwrap();
    let (_, issues) = scan(&path);
    assert_eq!(
        issues[0].problem,
        FrameProblem::BadLength(MAX_PAYLOAD_BYTES + 1)
    );
    assert_eq!(
        read_frame_at(&path, offsets[1]).unwrap_err().kind(),
        std::io::ErrorKind::InvalidData
    );
}

#[test]
fn a_bad_header_skips_the_file() {
    let dir = tempdir().unwrap();
    let (path, _) = segment_of(dir.path(), 3);
    let mut bytes = fs::read(&path).unwrap();
    bytes[0] = b'X';
    fs::write(&path, &bytes).unwrap();
    let (frames, issues) = scan(&path);
    assert!(frames.is_empty());
    assert_eq!(
        issues,
        [FrameIssue {
            offset: 0,
            problem: FrameProblem::BadMagic
        }]
    );
    assert!(issues[0].problem.to_string().contains("bad magic"));
    fs::write(&path, &bytes[..7]).unwrap();
    assert_eq!(scan(&path).1[0].problem, FrameProblem::ShortHeader);
    let missing = dir.path().join("missing.tst");
    assert!(matches!(scan(&missing).1[0].problem, FrameProblem::Io(_)));
}

#[test]
fn only_versions_in_the_readable_range_are_read() {
    let dir = tempdir().unwrap();
    for (version, readable) in [(1, false), (2, true), (3, true), (4, false)] {
        let (path, _) = segment_of(dir.path(), version);
        let (frames, issues) = scan(&path);
        if readable {
            assert_eq!(kinds(&frames), [1, 2, 3], "version {version}");
            assert!(issues.is_empty(), "version {version}: {issues:?}");
        } else {
            assert!(frames.is_empty(), "version {version}");
            assert_eq!(issues[0].problem, FrameProblem::UnsupportedVersion(version));
            assert!(
                issues[0]
                    .problem
                    .to_string()
                    .contains(&format!("unsupported version {version}"))
            );
        }
    }
}

#[test]
fn appends_land_where_they_say_and_read_back() {
    let dir = tempdir().unwrap();
    let mut log = SegmentLog::open(FORMAT, LogConfig::new(dir.path())).unwrap();
    assert_eq!(log.active_seq(), None);
    let mut buf = frame(1, b"one");
    buf.extend(frame(2, b"two"));
    let a = log.append(&buf, 1_000).unwrap();
    let b = log.append(&frame(3, b"three"), 1_001).unwrap();
    assert_eq!(
        a,
        Appended {
            segment: 0,
            offset: HEADER_LEN
        }
    );
    assert_eq!(b.segment, 0);
    assert_eq!(b.offset, HEADER_LEN + buf.len() as u64);
    assert_eq!(log.active_seq(), Some(0));
    let path = log.segment_path(0).unwrap();
    assert_eq!(path, dir.path().join(FORMAT.file_name(1_000, 0)));
    assert_eq!(read_frame_at(&path, b.offset).unwrap(), b"\x03three");
    let (frames, issues) = scan(&path);
    assert!(issues.is_empty());
    assert_eq!(kinds(&frames), [1, 2, 3]);
    let info = log.segments().next().unwrap().clone();
    assert_eq!(info.bytes, fs::metadata(&path).unwrap().len());
    assert_eq!((info.created_ms, info.last_write_ms), (1_000, 1_001));
    assert_eq!(log.total_bytes(), info.bytes);
    log.sync().unwrap();
}

#[test]
fn segments_roll_by_size() {
    let dir = tempdir().unwrap();
    let mut log = SegmentLog::open(FORMAT, config(dir.path())).unwrap();
    let f = frame(1, &[0; 31]); // 40 bytes
    assert!(log.roll_due(0, 0), "nothing open yet");
    log.append(&f, 0).unwrap();
    assert!(!log.roll_due(0, 0));
    assert!(!log.roll_due(0, 47), "12 + 40 + 47 < 100");
    assert!(log.roll_due(0, 48), "12 + 40 + 48 reaches 100");
    log.append(&f, 0).unwrap(); // 92 bytes: still under
    assert!(!log.roll_due(0, 0));
    log.append(&f, 0).unwrap(); // 132: full
    assert!(log.roll_due(0, 0));
    assert_eq!(log.roll(5).unwrap(), 1);
    let at = log.append(&f, 5).unwrap();
    assert_eq!(
        at,
        Appended {
            segment: 1,
            offset: HEADER_LEN
        }
    );
    let sizes: Vec<(u64, u64)> = log.segments().map(|s| (s.seq, s.bytes)).collect();
    assert_eq!(sizes, [(0, 132), (1, 52)]);
    for s in log.segments() {
        let (frames, issues) = scan(&dir.path().join(&s.name));
        assert!(issues.is_empty(), "{issues:?}");
        assert_eq!(frames.len() as u64, (s.bytes - HEADER_LEN) / 40);
    }
}

#[test]
fn segments_roll_by_window_when_one_is_set() {
    let dir = tempdir().unwrap();
    let mut cfg = LogConfig::new(dir.path());
    cfg.segment_window = Some(Duration::from_secs(1));
    let mut log = SegmentLog::open(FORMAT, cfg).unwrap();
    log.append(&frame(1, b"x"), 10_000).unwrap();
    assert!(!log.roll_due(10_999, 0));
    assert!(log.roll_due(11_000, 0));
    let mut unwindowed = SegmentLog::open(FORMAT, LogConfig::new(dir.path().join("u"))).unwrap();
    unwindowed.append(&frame(1, b"x"), 10_000).unwrap();
    assert!(!unwindowed.roll_due(u64::MAX, 0));
}

#[test]
fn open_lists_segments_oldest_first_and_never_appends_to_them() {
    let dir = tempdir().unwrap();
    {
        let mut log = SegmentLog::open(FORMAT, LogConfig::new(dir.path())).unwrap();
        log.append(&frame(1, b"a"), 1).unwrap();
        log.roll(2).unwrap();
        log.append(&frame(1, b"b"), 2).unwrap();
    }
    fs::write(dir.path().join("notes.txt"), "not a segment").unwrap();
    let mut log = SegmentLog::open(FORMAT, LogConfig::new(dir.path())).unwrap();
    let seqs: Vec<u64> = log.segments().map(|s| s.seq).collect();
    assert_eq!(seqs, [0, 1]);
    assert_eq!(log.active_seq(), None);
    let before = fs::read(log.segment_path(1).unwrap()).unwrap();
    let at = log.append(&frame(1, b"c"), 3).unwrap();
    assert_eq!(at.segment, 2);
    assert_eq!(fs::read(log.segment_path(1).unwrap()).unwrap(), before);
}

#[test]
fn close_active_makes_the_next_append_start_a_segment() {
    let dir = tempdir().unwrap();
    let mut log = SegmentLog::open(FORMAT, LogConfig::new(dir.path())).unwrap();
    log.append(&frame(1, b"a"), 1).unwrap();
    log.close_active().unwrap();
    assert_eq!(log.active_seq(), None);
    assert_eq!(log.append(&frame(1, b"b"), 1).unwrap().segment, 1);
    assert_eq!(log.segments().count(), 2);
}

#[test]
fn retention_by_bytes_deletes_the_oldest_finished_segments() {
    let dir = tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.max_bytes = 1_000_000;
    let mut log = SegmentLog::open(FORMAT, cfg).unwrap();
    let f = frame(1, &[0; 91]); // 100 bytes: one frame fills a segment
    for now in 0..5 {
        log.roll(now).unwrap();
        log.append(&f, now).unwrap();
    }
    assert_eq!(log.total_bytes(), 5 * 112);
    assert!(log.enforce_retention(10).is_empty(), "under the limit");
    log.config_mut().max_bytes = 3 * 112;
    assert_eq!(log.enforce_retention(10), [0, 1]);
    let left: Vec<u64> = log.segments().map(|s| s.seq).collect();
    assert_eq!(left, [2, 3, 4]);
    assert!(!dir.path().join(FORMAT.file_name(0, 0)).exists());
    assert!(dir.path().join(FORMAT.file_name(2, 2)).exists());
    // The active segment stays, whatever the limit.
    log.config_mut().max_bytes = 0;
    assert_eq!(log.enforce_retention(10), [2, 3]);
    assert_eq!(log.active_seq(), Some(4));
    assert_eq!(log.segments().count(), 1);
}

#[test]
fn retention_by_age_deletes_segments_last_written_too_long_ago() {
    let dir = tempdir().unwrap();
    let mut cfg = LogConfig::new(dir.path());
    cfg.max_age = Some(Duration::from_secs(60));
    let mut log = SegmentLog::open(FORMAT, cfg).unwrap();
    log.append(&frame(1, b"a"), 1_000).unwrap();
    log.append(&frame(1, b"a"), 5_000).unwrap();
    log.roll(10_000).unwrap();
    log.append(&frame(1, b"b"), 30_000).unwrap();
    log.roll(40_000).unwrap();
    assert!(log.enforce_retention(65_000).is_empty(), "60 s after 5 s");
    assert_eq!(log.enforce_retention(65_001), [0]);
    assert_eq!(log.enforce_retention(1 << 40), [1], "the active one stays");
    assert_eq!(log.active_seq(), Some(2));
    let mut ageless = SegmentLog::open(FORMAT, LogConfig::new(dir.path().join("n"))).unwrap();
    ageless.append(&frame(1, b"a"), 0).unwrap();
    ageless.close_active().unwrap();
    assert!(ageless.enforce_retention(u64::MAX).is_empty());
}

#[test]
fn a_failed_write_abandons_the_segment() {
    let dir = tempdir().unwrap();
    let mut log = SegmentLog::open(FORMAT, LogConfig::new(dir.path())).unwrap();
    log.append(&frame(1, b"kept"), 1).unwrap();
    let path = log.segment_path(0).unwrap();
    // A descriptor opened read-only: write(2) fails with EBADF.
    log.replace_active_file(fs::File::open(&path).unwrap());
    let err = log.append(&frame(2, b"lost"), 2).unwrap_err();
    assert_ne!(err.kind(), std::io::ErrorKind::Interrupted);
    assert_eq!(log.active_seq(), None, "never written again");
    let at = log.append(&frame(3, b"next"), 3).unwrap();
    assert_eq!(at.segment, 1);
    let first = log.segments().next().unwrap().clone();
    assert_eq!(first.bytes, fs::metadata(&path).unwrap().len());
    let (frames, issues) = scan(&path);
    assert!(issues.is_empty());
    assert_eq!(kinds(&frames), [1]);
}
