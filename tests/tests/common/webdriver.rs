//! A small W3C WebDriver client for the browser tests: it starts `/usr/bin/chromedriver` on a
//! free port and a headless Debian Chromium through it, and speaks HTTP/1.1 over a plain
//! `TcpStream` (one connection per command, `Connection: close`) with serde_json bodies.
//! Both processes are ended on drop. Generic on purpose: the box's own web UI tests use it too.
//!
//! Calls that a test expects to work panic with WebDriver's message; the `try_` ones return
//! `None`, for bounded waits on a page that is still changing (`wait_until`).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};

/// The key under which WebDriver names an element.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// What WebDriver answered with an error.
#[derive(Debug)]
pub struct WebDriverError {
    pub status: u16,
    pub error: String,
    pub message: String,
}

impl std::fmt::Display for WebDriverError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.error, self.status, self.message)
    }
}

/// A headless Chromium driven by ChromeDriver.
pub struct Browser {
    driver: Child,
    port: u16,
    session: String,
    _profile: tempfile::TempDir,
}

/// An element of the current page.
pub struct Element<'a> {
    browser: &'a Browser,
    pub id: String,
}

/// Retries `probe` until it gives a value, for at most `bound`; fails the test naming `what`.
pub fn wait_until<T>(bound: Duration, what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + bound;
    loop {
        if let Some(v) = probe() {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: not within {bound:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn http(port: u16, method: &str, path: &str, body: Option<&Value>) -> std::io::Result<(u16, Value)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(90)))?;
    stream.set_write_timeout(Some(Duration::from_secs(30)))?;
    let body = body.map(Value::to_string).unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\
         Content-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body.as_bytes())?;
    // ChromeDriver keeps the connection open despite `Connection: close`: read the head, then
    // exactly Content-Length bytes.
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let split = loop {
        if let Some(at) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        raw.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).ok_or(std::io::ErrorKind::InvalidData)?;
    let length = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok());
    let mut body = raw.split_off(split + 4);
    match length {
        Some(len) => {
            while body.len() < len {
                let n = stream.read(&mut buf)?;
                if n == 0 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
                body.extend_from_slice(&buf[..n]);
            }
            body.truncate(len);
        }
        None => {
            stream.read_to_end(&mut body)?;
        }
    }
    Ok((status, serde_json::from_slice(&body).unwrap_or(Value::Null)))
}

impl Browser {
    /// Starts ChromeDriver and a headless Chromium with a fresh profile, 1280×800.
    pub fn start() -> Browser {
        let port = super::free_port();
        let driver = Command::new("/usr/bin/chromedriver")
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("/usr/bin/chromedriver (apt install chromium chromium-driver)");
        let profile = tempfile::tempdir().unwrap();
        let mut browser = Browser { driver, port, session: String::new(), _profile: profile };
        wait_until(Duration::from_secs(20), "chromedriver ready", || {
            http(port, "GET", "/status", None).ok().filter(|(_, v)| v["value"]["ready"] == true)
        });
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-quic",
            "--no-first-run",
            "--disable-dev-shm-usage",
            "--window-size=1280,800",
        ]
        .iter()
        .map(|a| a.to_string())
        .chain([format!("--user-data-dir={}", browser._profile.path().display())])
        .collect::<Vec<_>>();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            // The box serves its self-signed certificate (the fleet is plain HTTP in tests).
            "acceptInsecureCerts": true,
            "pageLoadStrategy": "normal",
            "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": args},
        }}});
        let (status, answer) = http(port, "POST", "/session", Some(&caps)).expect("new WebDriver session");
        assert_eq!(status, 200, "new session: {answer}");
        browser.session = answer["value"]["sessionId"].as_str().expect("a session id").to_owned();
        browser
    }

    /// One WebDriver command on this session.
    pub fn try_cmd(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, WebDriverError> {
        let path = format!("/session/{}{path}", self.session);
        let body = match (method, body) {
            ("POST", None) => Some(json!({})),
            (_, b) => b,
        };
        match http(self.port, method, &path, body.as_ref()) {
            Ok((200, v)) => Ok(v["value"].clone()),
            Ok((status, v)) => Err(WebDriverError {
                status,
                error: v["value"]["error"].as_str().unwrap_or("?").to_owned(),
                message: v["value"]["message"].as_str().unwrap_or("").to_owned(),
            }),
            Err(e) => Err(WebDriverError { status: 0, error: "io".into(), message: e.to_string() }),
        }
    }

    pub fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.try_cmd(method, path, body).unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"))
    }

    /// Opens `url` and waits for it to load.
    pub fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({"url": url})));
    }

    pub fn url(&self) -> String {
        self.cmd("GET", "/url", None).as_str().unwrap_or_default().to_owned()
    }

    pub fn title(&self) -> String {
        self.cmd("GET", "/title", None).as_str().unwrap_or_default().to_owned()
    }

    pub fn source(&self) -> String {
        self.cmd("GET", "/source", None).as_str().unwrap_or_default().to_owned()
    }

    pub fn try_find(&self, css: &str) -> Option<Element<'_>> {
        let v = self.try_cmd("POST", "/element", Some(json!({"using": "css selector", "value": css}))).ok()?;
        Some(Element { browser: self, id: v[ELEMENT].as_str()?.to_owned() })
    }

    pub fn find(&self, css: &str) -> Element<'_> {
        self.try_find(css).unwrap_or_else(|| panic!("no element `{css}` on {}", self.url()))
    }

    pub fn find_all(&self, css: &str) -> Vec<Element<'_>> {
        let v = self.cmd("POST", "/elements", Some(json!({"using": "css selector", "value": css})));
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e[ELEMENT].as_str())
            .map(|id| Element { browser: self, id: id.to_owned() })
            .collect()
    }

    /// The text of the first element matching `css`, if there is one now.
    pub fn try_text(&self, css: &str) -> Option<String> {
        self.try_find(css)?.try_text()
    }

    /// Runs `script` (a function body; `arguments` holds `args`) in the page and returns its
    /// value. Elements go in as `Element::arg()`.
    pub fn execute(&self, script: &str, args: Vec<Value>) -> Value {
        self.cmd("POST", "/execute/sync", Some(json!({"script": script, "args": args})))
    }

    /// Clicks `css` (a form's submit button) and waits until the page the form posts to has
    /// loaded: a notice read right after a bare click can still be the previous page's (two
    /// refusals in a row on one page).
    pub fn submit(&self, css: &str) {
        self.execute("window.outpostBeforeSubmit = true;", Vec::new());
        self.find(css).click();
        let script = "return window.outpostBeforeSubmit === undefined && document.readyState === 'complete';";
        wait_until(Duration::from_secs(30), "the page the form posted to", || {
            let loaded = self.try_cmd("POST", "/execute/sync", Some(json!({"script": script, "args": []}))).ok()?;
            loaded.as_bool().filter(|&done| done)
        });
    }

    /// The page as a PNG, written to `path`.
    pub fn screenshot(&self, path: &Path) {
        let b64 = self.cmd("GET", "/screenshot", None);
        let png = base64::engine::general_purpose::STANDARD.decode(b64.as_str().unwrap_or_default()).unwrap();
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(path, png).unwrap();
    }

    /// Keeps a screenshot of the page as a test artifact (`target/screenshots/NAME.png`), and
    /// as the documentation's (`docs/screenshots/`) with `OUTPOST_UPDATE_SCREENSHOTS=1`.
    pub fn keep_screenshot(&self, name: &str) {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let file = root.join("target/screenshots").join(format!("{name}.png"));
        self.screenshot(&file);
        if std::env::var("OUTPOST_UPDATE_SCREENSHOTS").is_ok_and(|v| v == "1") {
            let docs = root.join("docs/screenshots");
            std::fs::create_dir_all(&docs).unwrap();
            std::fs::copy(&file, docs.join(format!("{name}.png"))).unwrap();
        }
    }

    pub fn set_window_size(&self, width: u32, height: u32) {
        self.cmd("POST", "/window/rect", Some(json!({"width": width, "height": height})));
    }

    /// The cookies of the current page (HttpOnly ones too: WebDriver sees them).
    pub fn cookies(&self) -> Vec<Value> {
        self.cmd("GET", "/cookie", None).as_array().cloned().unwrap_or_default()
    }

    /// Accepts a `window.confirm` (or alert) the page opened.
    pub fn accept_alert(&self) {
        self.cmd("POST", "/alert/accept", None);
    }
}

impl Element<'_> {
    fn path(&self, rest: &str) -> String {
        format!("/element/{}{rest}", self.id)
    }

    pub fn click(&self) {
        self.browser.cmd("POST", &self.path("/click"), None);
    }

    /// Types `text` into the element.
    pub fn send_keys(&self, text: &str) {
        self.browser.cmd("POST", &self.path("/value"), Some(json!({"text": text})));
    }

    pub fn clear(&self) {
        self.browser.cmd("POST", &self.path("/clear"), None);
    }

    pub fn try_text(&self) -> Option<String> {
        self.browser.try_cmd("GET", &self.path("/text"), None).ok()?.as_str().map(str::to_owned)
    }

    pub fn text(&self) -> String {
        self.browser.cmd("GET", &self.path("/text"), None).as_str().unwrap_or_default().to_owned()
    }

    pub fn attribute(&self, name: &str) -> Option<String> {
        self.browser.cmd("GET", &self.path(&format!("/attribute/{name}")), None).as_str().map(str::to_owned)
    }

    /// A DOM property (`value` of an input is its current value, not the attribute).
    pub fn property(&self, name: &str) -> Value {
        self.browser.cmd("GET", &self.path(&format!("/property/{name}")), None)
    }

    pub fn find(&self, css: &str) -> Element<'_> {
        let v = self.browser.cmd("POST", &self.path("/element"), Some(json!({"using": "css selector", "value": css})));
        Element { browser: self.browser, id: v[ELEMENT].as_str().expect("an element").to_owned() }
    }

    /// This element as an argument of `Browser::execute`.
    pub fn arg(&self) -> Value {
        json!({ ELEMENT: self.id })
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ending the session quits Chromium; then ChromeDriver goes.
        if !self.session.is_empty() {
            let _ = http(self.port, "DELETE", &format!("/session/{}", self.session), None);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
