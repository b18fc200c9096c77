//! A report as PDF: the HTML page printed by headless Chromium
//! (`chromium --headless --print-to-pdf`) in a private temporary profile,
//! killed if it takes longer than [`PdfConfig::timeout`].

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::ReportError;

/// Where Chromium is and how long it may take.
#[derive(Clone, Debug)]
pub struct PdfConfig {
    /// The browser; default `$OSPREY_CHROMIUM`, else the first of
    /// `chromium`, `chromium-browser`, `google-chrome` on the `PATH`.
    pub chromium: Option<PathBuf>,
    /// Longest a print may take.
    pub timeout: Duration,
}

impl Default for PdfConfig {
    fn default() -> Self {
        Self {
            chromium: std::env::var_os("OSPREY_CHROMIUM").map(PathBuf::from),
            timeout: Duration::from_secs(120),
        }
    }
}

fn find_chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |d| d.join(name)))
        .find(|p| p.is_file())
}

/// Prints `html` to PDF bytes.
pub fn render(html: &str, cfg: &PdfConfig) -> Result<Vec<u8>, ReportError> {
    let browser = cfg.chromium.clone().or_else(find_chromium).ok_or_else(|| {
        ReportError::Pdf(
            "no chromium found (install it or set OSPREY_CHROMIUM to the browser)".into(),
        )
    })?;
    let dir = tempfile::Builder::new()
        .prefix("osprey-report-")
        .tempdir()
        .map_err(ReportError::io("cannot make a temporary directory"))?;
    let page = dir.path().join("report.html");
    let out = dir.path().join("report.pdf");
    std::fs::write(&page, html).map_err(ReportError::io("cannot write the page to print"))?;
    // A file, not a pipe: a chatty browser cannot block on a full pipe.
    let log_path = dir.path().join("chromium.log");
    let log = std::fs::File::create(&log_path).map_err(ReportError::io("cannot make a log"))?;
    let mut child = Command::new(&browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-pdf-header-footer",
        ])
        .arg(format!(
            "--user-data-dir={}",
            dir.path().join("profile").display()
        ))
        .arg(format!("--print-to-pdf={}", out.display()))
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map_err(ReportError::io(format!(
            "cannot start {}",
            browser.display()
        )))?;
    let deadline = Instant::now() + cfg.timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(ReportError::Pdf(format!(
                    "{} did not finish within {:?}",
                    browser.display(),
                    cfg.timeout
                )));
            }
            Err(e) => return Err(ReportError::io("cannot wait for chromium")(e)),
        }
    };
    let pdf = std::fs::read(&out).unwrap_or_default();
    if !status.success() || !pdf.starts_with(b"%PDF") {
        let err = std::fs::read_to_string(&log_path).unwrap_or_default();
        let tail: String = err.lines().rev().take(3).collect::<Vec<_>>().join(" | ");
        return Err(ReportError::Pdf(format!(
            "{} exited with {status} and no PDF: {tail}",
            browser.display()
        )));
    }
    Ok(pdf)
}
