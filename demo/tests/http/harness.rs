//! The app under test, on either store, and a small cookie-keeping browser
//! that drives its router with `oneshot`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use sessiond::{Clock, ManualClock, Store, StoreConfig, SystemClock};
use sessiond_client::{Client, ClientConfig, TlsOptions};
use sessiond_demo::{Accounts, AppState, Backend, PasswordCost, Role, Settings, app};
use sessiond_server::{Secret, Server, ServerConfig, TlsFiles};
use tokio::sync::oneshot;
use tower::ServiceExt;

/// The session cookie's name with the default (secure) settings.
pub const SESSION_COOKIE: &str = "__Host-sid";

/// The demo accounts' passwords in every test.
pub const ALICE: (&str, &str) = ("alice", "alice-password");
pub const BOB: (&str, &str) = ("bob", "bob-password");
pub const ADMIN: (&str, &str) = ("admin", "admin-password");

/// A Firefox on Linux, and a Chrome on Android, as the devices page names them.
pub const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
pub const ANDROID: &str = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.81 Mobile Safari/537.36";

/// Which store a test runs on: every flow runs on both.
pub trait Stores {
    /// The store the app is generic over.
    type S: Backend;
    /// The app with these settings on a store whose clock the test moves.
    async fn start(settings: Settings) -> Harness<Self::S>;
}

/// The embedded `sessiond::Store`.
pub struct Embedded;

/// A `sessiond` daemon in this process, set up as deployed (TLS with its
/// own CA, an auth token), through `sessiond_client::Client`.
pub struct Daemon;

impl Stores for Embedded {
    type S = Store;

    async fn start(settings: Settings) -> Harness<Store> {
        let clock = ManualClock::new(SystemClock.now_ms());
        let store = Store::with_clock(store_config(), clock.clone());
        Harness::new(store, settings, clock, None).await
    }
}

impl Stores for Daemon {
    type S = Client;

    async fn start(settings: Settings) -> Harness<Client> {
        let clock = ManualClock::new(SystemClock.now_ms());
        let store = Store::with_clock(store_config(), clock.clone());
        let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        static DAEMONS: AtomicUsize = AtomicUsize::new(0);
        let n = DAEMONS.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("sessiond-demo-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cert, made.cert.pem()).unwrap();
        std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
        let token = "a-token-for-the-demo-tests-padded-to-the-32-byte-minimum";
        let config = ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            tls: Some(TlsFiles {
                cert: cert.clone(),
                key,
            }),
            auth_token: Some(Secret::new(token).unwrap()),
            ..ServerConfig::default()
        };
        let server = Server::bind(config, store).await.expect("the daemon binds");
        let addr = server.local_addr();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(server.run_until(async {
            let _ = stopped.await;
        }));
        // The certificate is its own CA (self-signed), issued to localhost.
        // Short waits, as the binary configures them (`main.rs`).
        let config = ClientConfig::new(addr.to_string())
            .tls(TlsOptions::from_pem_file("localhost", cert))
            .auth_token(token)
            .request_timeout(std::time::Duration::from_secs(1))
            .connect_timeout(std::time::Duration::from_secs(1))
            .retry(sessiond_client::Retry {
                attempts: 2,
                total: std::time::Duration::from_millis(500),
                ..sessiond_client::Retry::default()
            });
        let client = Client::connect(config).await.expect("the client connects");
        Harness::new(client, settings, clock, Some(stop)).await
    }
}

pub fn store_config() -> StoreConfig {
    StoreConfig {
        background_expiry: false,
        ..StoreConfig::default()
    }
}

/// The app, its state (to look into the store) and its clock.
pub struct Harness<S> {
    pub app: Router,
    pub state: AppState<S>,
    pub clock: ManualClock,
    daemon: Option<oneshot::Sender<()>>,
}

impl<S: Backend> Harness<S> {
    pub async fn new(
        store: S,
        settings: Settings,
        clock: ManualClock,
        daemon: Option<oneshot::Sender<()>>,
    ) -> Self {
        let accounts = Accounts::new(
            PasswordCost::cheapest_for_tests(),
            &[
                (ALICE.0, Role::User, ALICE.1),
                (BOB.0, Role::User, BOB.1),
                (ADMIN.0, Role::Admin, ADMIN.1),
            ],
        )
        .expect("accounts");
        let state = AppState::with_clock(store, accounts, settings, Arc::new(clock.clone()))
            .await
            .expect("the app starts");
        Harness {
            app: app(state.clone()),
            state,
            clock,
            daemon,
        }
    }

    /// Stops the daemon behind the app (the embedded store cannot stop).
    pub fn stop_daemon(&mut self) {
        if let Some(stop) = self.daemon.take() {
            let _ = stop.send(());
        }
    }

    /// Sends one request through the router.
    pub async fn send(&self, request: Request<Body>) -> Reply {
        let response = self.app.clone().oneshot(request).await.expect("infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("a body")
            .to_bytes();
        Reply {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    /// GET as this browser, for a stream (server-sent events): the status
    /// and the body, read as it comes.
    pub async fn open_stream(&self, browser: &Browser, path: &str) -> (StatusCode, Body) {
        let request = browser
            .request(Method::GET, path)
            .body(Body::empty())
            .unwrap();
        let response = self
            .app
            .clone()
            .oneshot(with_peer(request, browser.ip))
            .await
            .expect("infallible");
        (response.status(), response.into_body())
    }

    /// GET as this browser.
    pub async fn get(&self, browser: &mut Browser, path: &str) -> Reply {
        let request = browser
            .request(Method::GET, path)
            .body(Body::empty())
            .unwrap();
        let reply = self.send(with_peer(request, browser.ip)).await;
        browser.keep_cookies(&reply);
        reply
    }

    /// POSTs a form as this browser.
    pub async fn post(&self, browser: &mut Browser, path: &str, fields: &[(&str, &str)]) -> Reply {
        let body = form(fields);
        let request = browser
            .request(Method::POST, path)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap();
        let reply = self.send(with_peer(request, browser.ip)).await;
        browser.keep_cookies(&reply);
        reply
    }

    /// POSTs a form with the CSRF token of the browser's last page.
    pub async fn submit(
        &self,
        browser: &mut Browser,
        path: &str,
        fields: &[(&str, &str)],
    ) -> Reply {
        let token = browser.csrf.clone();
        let mut all = vec![("csrf", token.as_str())];
        all.extend_from_slice(fields);
        self.post(browser, path, &all).await
    }

    /// Opens the login page and signs in; returns the answer to the post.
    pub async fn login(&self, browser: &mut Browser, (name, password): (&str, &str)) -> Reply {
        let page = self.get(browser, "/login").await;
        assert_eq!(page.status, StatusCode::OK);
        let token = page.csrf().expect("the login form has a token");
        self.post(
            browser,
            "/login",
            &[("username", name), ("password", password), ("csrf", &token)],
        )
        .await
    }

    /// Signs in and opens the devices page, which must show.
    pub async fn signed_in(&self, user: (&str, &str), agent: &str) -> Browser {
        let mut browser = Browser::new(agent);
        let reply = self.login(&mut browser, user).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
        let devices = self.get(&mut browser, "/devices").await;
        assert_eq!(devices.status, StatusCode::OK, "{}", devices.body);
        browser
    }

    /// A JSON request, with a bearer token if given.
    pub async fn api(
        &self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> (StatusCode, serde_json::Value) {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(token) = bearer {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let request = match body {
            Some(json) => request
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(json.to_string())),
            None => request.body(Body::empty()),
        }
        .unwrap();
        let reply = self.send(with_peer(request, [192, 0, 2, 1])).await;
        let json = serde_json::from_str(&reply.body).unwrap_or(serde_json::Value::Null);
        (reply.status, json)
    }

    /// The number of live sessions of an account, from the store itself.
    pub async fn sessions_of(&self, account: &str) -> usize {
        self.state
            .store
            .count(account.as_bytes())
            .await
            .expect("count")
    }
}

fn with_peer(mut request: Request<Body>, ip: [u8; 4]) -> Request<Body> {
    request
        .extensions_mut()
        .insert(ConnectInfo(SocketAddr::from((ip, 50_000))));
    request
}

fn form(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A browser profile: its cookies, its user agent, its address, and the
/// CSRF token of the last page it saw.
#[derive(Debug, Clone)]
pub struct Browser {
    pub cookies: BTreeMap<String, String>,
    pub agent: String,
    pub ip: [u8; 4],
    pub csrf: String,
}

impl Browser {
    pub fn new(agent: &str) -> Browser {
        Browser {
            cookies: BTreeMap::new(),
            agent: agent.to_owned(),
            ip: [192, 0, 2, 7],
            csrf: String::new(),
        }
    }

    /// The session cookie's value.
    pub fn session(&self) -> Option<&str> {
        self.cookies.get(SESSION_COOKIE).map(String::as_str)
    }

    fn request(&self, method: Method, path: &str) -> axum::http::request::Builder {
        let cookie = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let mut builder = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, "demo.test")
            .header(header::USER_AGENT, &self.agent);
        if !cookie.is_empty() {
            builder = builder.header(header::COOKIE, cookie);
        }
        builder
    }

    fn keep_cookies(&mut self, reply: &Reply) {
        for set in reply.set_cookies() {
            let (pair, attributes) = set.split_once(';').unwrap_or((set, ""));
            let (name, value) = pair.split_once('=').expect("name=value");
            if attributes.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        if let Some(token) = reply.csrf() {
            self.csrf = token;
        }
    }
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn location(&self) -> Option<&str> {
        self.headers.get(header::LOCATION)?.to_str().ok()
    }

    pub fn set_cookies(&self) -> Vec<&str> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect()
    }

    /// The first hidden `csrf` field of the page.
    pub fn csrf(&self) -> Option<String> {
        self.hidden("csrf").into_iter().next()
    }

    /// Every value of the hidden field `name`, in page order.
    pub fn hidden(&self, name: &str) -> Vec<String> {
        let marker = format!("name=\"{name}\" value=\"");
        self.body
            .match_indices(&marker)
            .map(|(at, _)| {
                let rest = &self.body[at + marker.len()..];
                rest[..rest.find('"').unwrap()].to_owned()
            })
            .collect()
    }

    /// The device handles listed on a devices page, in order.
    pub fn devices(&self) -> Vec<String> {
        let marker = "data-device=\"";
        self.body
            .match_indices(marker)
            .map(|(at, _)| {
                let rest = &self.body[at + marker.len()..];
                rest[..rest.find('"').unwrap()].to_owned()
            })
            .collect()
    }

    /// Whether this is the redirect to the login page for an ended session.
    pub fn is_signed_out(&self) -> bool {
        self.status == StatusCode::SEE_OTHER
            && self
                .location()
                .is_some_and(|to| to.starts_with("/login?ended="))
    }

    /// Why the session ended, as the redirect says.
    pub fn ended(&self) -> Option<&str> {
        let query = self.location()?.strip_prefix("/login?ended=")?;
        Some(query.split('&').next().unwrap_or(query))
    }
}

/// Runs each named flow on the embedded store and on a daemon.
#[macro_export]
macro_rules! on_both_stores {
    ($($flow:ident),* $(,)?) => {
        $(
            mod $flow {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn embedded() {
                    super::$flow::<$crate::harness::Embedded>().await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn daemon() {
                    super::$flow::<$crate::harness::Daemon>().await;
                }
            }
        )*
    };
}
