//! User-defined dashboards: boards of charts composed in the viewer, kept
//! in `<data>/dashboards/boards.json` (replaced atomically on every change)
//! and shared by URL (`/?board=<id>`).
//!
//! Who may do what, with auth on ([`crate::auth`]):
//! - every logged-in user, viewers included, saves **personal** boards:
//!   owned by them, listed only for them, changed and deleted only by
//!   them, and readable by anyone logged in who has the link (`?board=`
//!   with its random 64-bit id): shared read-only by URL;
//! - **shared** boards (listed for everyone) are the admins': only an
//!   admin makes a board shared, and any admin changes or deletes one.
//!
//! The session middleware lets `/api/dashboards` calls of viewers through
//! (CSRF token still needed); this module applies the rules above. Without
//! auth (no users, no `--auth`) everyone is the local user [`LOCAL_USER`],
//! an admin who owns every board.

use std::path::{Path, PathBuf};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

/// The owner of boards made while auth is off.
pub const LOCAL_USER: &str = "";
/// Most boards kept.
pub const MAX_BOARDS: usize = 1_000;
/// Most charts on a board.
pub const MAX_CHARTS: usize = 48;
/// Longest board name, title or filter value (characters).
pub const MAX_TEXT: usize = 200;

/// One chart of a board.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ChartSpec {
    /// `tps`, `response` (avg and max ms), `errors` (per second) or
    /// `metric` (a stored metric series, named by `metric`).
    pub kind: ChartKind,
    /// The metric name (for `metric`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<String>,
    /// Only this service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// Only this instance (`service.instance.id`; transaction charts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// Only this endpoint (transaction charts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// A title of the user's; default from the rest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

/// What a chart shows.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ChartKind {
    /// Transactions per second.
    Tps,
    /// Response time, ms.
    Response,
    /// Errors per second.
    Errors,
    /// A metric series.
    Metric,
}

/// What a client sends to create or replace a board.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoardInput {
    /// Name.
    pub name: String,
    /// Visible to every user (else only to its owner).
    #[serde(default)]
    pub shared: bool,
    /// Time range shown, minutes (default 60).
    #[serde(default)]
    pub range_min: Option<u32>,
    /// The charts, in order.
    #[serde(default)]
    pub charts: Vec<ChartSpec>,
}

/// A saved board.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Board {
    /// Id (16 hex digits), the `board=` of its URL.
    pub id: String,
    /// Name.
    pub name: String,
    /// The user who made it.
    pub owner: String,
    /// Visible to every user.
    pub shared: bool,
    /// Time range shown, minutes.
    pub range_min: u32,
    /// The charts, in order.
    pub charts: Vec<ChartSpec>,
    /// Last change, UNIX ms.
    pub updated_ms: u64,
}

/// Who asks.
#[derive(Clone, Debug)]
pub struct Caller {
    /// User name ([`LOCAL_USER`] without auth).
    pub user: String,
    /// Has the admin role (always, without auth): may share boards.
    pub admin: bool,
}

/// Why a board call failed.
#[derive(Debug)]
pub enum BoardError {
    /// No such board, or not one the caller may see (404).
    NotFound,
    /// The caller may see it but not change it (403).
    NotOwner,
    /// Sharing with everyone, or changing a shared board, needs the admin
    /// role (403).
    NeedsAdmin,
    /// The input is wrong (400).
    Invalid(String),
    /// The limit of boards is reached (409).
    Full,
    /// The file could not be written (500).
    Io(std::io::Error),
    /// The file could not be read at start; it is left as it is (500).
    Damaged(String),
}

impl BoardError {
    /// The HTTP status it answers with.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::NotFound => 404,
            Self::NotOwner | Self::NeedsAdmin => 403,
            Self::Invalid(_) => 400,
            Self::Full => 409,
            Self::Io(_) | Self::Damaged(_) => 500,
        }
    }
}

impl std::fmt::Display for BoardError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotFound => f.write_str("no such board"),
            Self::NotOwner => f.write_str("only its owner changes a personal board"),
            Self::NeedsAdmin => f.write_str("shared boards are made and changed by admins only"),
            Self::Invalid(m) => write!(f, "invalid board: {m}"),
            Self::Full => write!(f, "at most {MAX_BOARDS} boards"),
            Self::Io(e) => write!(f, "cannot save the boards: {e}"),
            Self::Damaged(m) => write!(f, "the boards file is damaged: {m}"),
        }
    }
}

impl std::error::Error for BoardError {}

/// The boards of a data directory.
pub struct Boards {
    path: PathBuf,
    boards: Mutex<Vec<Board>>,
}

fn check_text(what: &str, s: &str) -> Result<(), BoardError> {
    if s.chars().count() > MAX_TEXT {
        return Err(BoardError::Invalid(format!(
            "{what} longer than {MAX_TEXT} characters"
        )));
    }
    if s.chars().any(char::is_control) {
        return Err(BoardError::Invalid(format!(
            "{what} holds control characters"
        )));
    }
    Ok(())
}

fn check(input: &BoardInput) -> Result<(), BoardError> {
    if input.name.trim().is_empty() {
        return Err(BoardError::Invalid("a board needs a name".into()));
    }
    check_text("the name", &input.name)?;
    if input.charts.len() > MAX_CHARTS {
        return Err(BoardError::Invalid(format!(
            "at most {MAX_CHARTS} charts on a board"
        )));
    }
    if let Some(r) = input.range_min
        && !(1..=10_080).contains(&r)
    {
        return Err(BoardError::Invalid(
            "range_min between 1 and 10080 (a week)".into(),
        ));
    }
    for c in &input.charts {
        for (what, v) in [
            ("metric", &c.metric),
            ("service", &c.service),
            ("instance", &c.instance),
            ("endpoint", &c.endpoint),
            ("title", &c.title),
        ] {
            if let Some(v) = v {
                check_text(what, v)?;
            }
        }
        if c.kind == ChartKind::Metric && c.metric.as_deref().is_none_or(str::is_empty) {
            return Err(BoardError::Invalid("a metric chart needs a metric".into()));
        }
    }
    Ok(())
}

impl Boards {
    /// Opens the boards of data directory `data` (none yet is fine; a
    /// damaged file is an error, never overwritten).
    pub fn open(data: &Path) -> std::io::Result<Self> {
        let path = data.join("dashboards").join("boards.json");
        let boards = match std::fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{}: {e}", path.display()),
                )
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        Ok(Self {
            path,
            boards: Mutex::new(boards),
        })
    }

    /// Listed for `who`: shared, or theirs.
    fn listed(b: &Board, who: &Caller) -> bool {
        b.shared || b.owner == who.user
    }

    /// The boards `who` may see, by name.
    pub fn list(&self, who: &Caller) -> Vec<Board> {
        let mut v: Vec<Board> = self
            .boards
            .lock()
            .iter()
            .filter(|b| Self::listed(b, who))
            .cloned()
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
        v
    }

    /// One board by its id, for anyone who has it (the link is how a
    /// personal board is shared, read-only).
    pub fn get(&self, _who: &Caller, id: &str) -> Result<Board, BoardError> {
        self.boards
            .lock()
            .iter()
            .find(|b| b.id == id)
            .cloned()
            .ok_or(BoardError::NotFound)
    }

    /// Saves a new board owned by `who`.
    pub fn create(&self, who: &Caller, input: BoardInput) -> Result<Board, BoardError> {
        check(&input)?;
        if input.shared && !who.admin {
            return Err(BoardError::NeedsAdmin);
        }
        let mut boards = self.boards.lock();
        if boards.len() >= MAX_BOARDS {
            return Err(BoardError::Full);
        }
        let id = crate::auth::random_hex(8)
            .map_err(|e| BoardError::Io(std::io::Error::other(e.to_string())))?;
        let board = Board {
            id,
            name: input.name.trim().to_owned(),
            owner: who.user.clone(),
            shared: input.shared,
            range_min: input.range_min.unwrap_or(60),
            charts: input.charts,
            updated_ms: crate::time::now_ms(),
        };
        let mut next = boards.clone();
        next.push(board.clone());
        self.save(&next)?;
        *boards = next;
        Ok(board)
    }

    /// `who` may change `b` (and make it `shared`, when asked to).
    fn may_change(b: &Board, who: &Caller, shared: bool) -> Result<(), BoardError> {
        if (b.shared || shared) && !who.admin {
            Err(BoardError::NeedsAdmin)
        } else if b.owner != who.user && !b.shared {
            Err(BoardError::NotOwner)
        } else {
            Ok(())
        }
    }

    /// Applies `edit` to a copy of the list with board `id` (which `who`
    /// may change) at the index given, saves it, then keeps it.
    fn change<R>(
        &self,
        who: &Caller,
        id: &str,
        shared: bool,
        edit: impl FnOnce(&mut Vec<Board>, usize) -> R,
    ) -> Result<R, BoardError> {
        let mut boards = self.boards.lock();
        let i = boards
            .iter()
            .position(|b| b.id == id)
            .ok_or(BoardError::NotFound)?;
        Self::may_change(&boards[i], who, shared)?;
        let mut next = boards.clone();
        let out = edit(&mut next, i);
        self.save(&next)?;
        *boards = next;
        Ok(out)
    }

    /// Replaces board `id` (its owner stays).
    pub fn update(&self, who: &Caller, id: &str, input: BoardInput) -> Result<Board, BoardError> {
        check(&input)?;
        self.change(who, id, input.shared, |next, i| {
            let b = &mut next[i];
            b.name = input.name.trim().to_owned();
            b.shared = input.shared;
            b.range_min = input.range_min.unwrap_or(b.range_min);
            b.charts = input.charts;
            b.updated_ms = crate::time::now_ms();
            b.clone()
        })
    }

    /// Deletes board `id`.
    pub fn delete(&self, who: &Caller, id: &str) -> Result<(), BoardError> {
        self.change(who, id, false, |next, i| {
            next.remove(i);
        })
    }

    /// Writes `boards` to a temporary file, syncs it and renames it over
    /// the old one: a crash leaves the old or the new list, never half.
    fn save(&self, boards: &[Board]) -> Result<(), BoardError> {
        use std::io::Write;
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(BoardError::Io)?;
        let tmp = self.path.with_extension("json.tmp");
        let body = serde_json::to_vec_pretty(boards).map_err(|e| BoardError::Io(e.into()))?;
        let mut f = std::fs::File::create(&tmp).map_err(BoardError::Io)?;
        f.write_all(&body).map_err(BoardError::Io)?;
        f.sync_all().map_err(BoardError::Io)?;
        std::fs::rename(&tmp, &self.path).map_err(BoardError::Io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(name: &str, shared: bool) -> BoardInput {
        BoardInput {
            name: name.into(),
            shared,
            range_min: None,
            charts: vec![ChartSpec {
                kind: ChartKind::Metric,
                metric: Some("jvm.memory.used".into()),
                service: Some("shop".into()),
                instance: None,
                endpoint: None,
                title: None,
            }],
        }
    }

    #[test]
    fn personal_boards_are_their_owners_shared_ones_the_admins_and_both_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let ann = Caller {
            user: "ann".into(),
            admin: true,
        };
        let bob = Caller {
            user: "bob".into(),
            admin: true,
        };
        let val = Caller {
            user: "val".into(),
            admin: false,
        };
        let boards = Boards::open(dir.path()).unwrap();
        let mine = boards.create(&ann, input("ann's", false)).unwrap();
        let ours = boards.create(&ann, input("team", true)).unwrap();
        assert_eq!(boards.list(&ann).len(), 2);
        assert_eq!(boards.list(&bob), vec![ours.clone()]);
        // Read-only by its link, for anyone.
        assert_eq!(boards.get(&bob, &mine.id).unwrap(), mine);
        assert!(matches!(
            boards.delete(&bob, &mine.id),
            Err(BoardError::NotOwner)
        ));
        // A shared board is the team's: another admin may change it.
        let renamed = boards
            .update(&bob, &ours.id, input("team 2", true))
            .unwrap();
        assert_eq!(
            (renamed.owner.as_str(), renamed.name.as_str()),
            ("ann", "team 2")
        );
        // A viewer: personal boards yes, sharing or shared boards no.
        let vals = boards.create(&val, input("val's", false)).unwrap();
        assert_eq!(vals.owner, "val");
        for refused in [
            boards.create(&val, input("x", true)).map(|_| ()),
            boards.update(&val, &vals.id, input("x", true)).map(|_| ()),
            boards.update(&val, &ours.id, input("x", false)).map(|_| ()),
            boards.delete(&val, &ours.id),
        ] {
            assert!(
                matches!(refused, Err(BoardError::NeedsAdmin)),
                "{refused:?}"
            );
        }
        assert!(matches!(
            boards.update(&val, &mine.id, input("x", false)),
            Err(BoardError::NotOwner)
        ));
        boards
            .update(&val, &vals.id, input("val 2", false))
            .unwrap();
        assert_eq!(boards.list(&val).len(), 2, "val's and the shared one");

        let again = Boards::open(dir.path()).unwrap();
        assert_eq!(again.list(&ann), boards.list(&ann));
        again.delete(&ann, &mine.id).unwrap();
        assert_eq!(Boards::open(dir.path()).unwrap().list(&ann).len(), 1);
    }

    #[test]
    fn bad_boards_are_refused_with_their_reason() {
        let dir = tempfile::tempdir().unwrap();
        let boards = Boards::open(dir.path()).unwrap();
        let who = Caller {
            user: LOCAL_USER.into(),
            admin: true,
        };
        let mut b = input(" ", false);
        assert!(
            boards
                .create(&who, b.clone())
                .unwrap_err()
                .to_string()
                .contains("needs a name")
        );
        b.name = "x".into();
        b.charts[0].metric = None;
        assert!(
            boards
                .create(&who, b.clone())
                .unwrap_err()
                .to_string()
                .contains("needs a metric")
        );
        b.charts = vec![input("x", false).charts[0].clone(); MAX_CHARTS + 1];
        assert_eq!(boards.create(&who, b).unwrap_err().http_status(), 400);
        std::fs::create_dir_all(dir.path().join("dashboards")).unwrap();
        std::fs::write(dir.path().join("dashboards/boards.json"), "{").unwrap();
        assert!(
            Boards::open(dir.path()).is_err(),
            "damage is reported, not erased"
        );
    }
}
