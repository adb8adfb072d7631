//! The app on a real socket, as the binary serves it: the peer address
//! reaches the devices page and the attempt limit, cookies survive a real
//! HTTP/1.1 round trip.

use std::net::SocketAddr;

use sessiond_demo::Settings;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::{ALICE, Stores};
use crate::on_both_stores;

on_both_stores!(sign_in_over_a_real_socket);

/// One request on its own connection; the whole response as text.
async fn exchange(addr: SocketAddr, request: String) -> String {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    String::from_utf8(response).unwrap()
}

fn header<'a>(response: &'a str, name: &str) -> Vec<&'a str> {
    let head = &response[..response.find("\r\n\r\n").unwrap()];
    head.lines()
        .filter_map(|line| {
            let (key, value) = line.split_once(": ")?;
            key.eq_ignore_ascii_case(name).then_some(value)
        })
        .collect()
}

fn cookie_pair(set_cookie: &str) -> &str {
    set_cookie.split(';').next().unwrap()
}

async fn sign_in_over_a_real_socket<T: Stores>() {
    let h = T::start(Settings::default()).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = h
        .app
        .clone()
        .into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, service).await });

    let get = |path: &str, cookie: &str| {
        format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: curl/8.5.0\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n"
        )
    };
    let login = exchange(addr, get("/login", "")).await;
    assert!(login.starts_with("HTTP/1.1 200"), "{login}");
    let csrf_cookie = cookie_pair(header(&login, "set-cookie")[0]).to_owned();
    let token = csrf_cookie.split_once('=').unwrap().1;
    let body = format!("username={}&password={}&csrf={token}", ALICE.0, ALICE.1);
    let post = format!(
        "POST /login HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: curl/8.5.0\r\nOrigin: http://{addr}\r\n\
         Cookie: {csrf_cookie}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let signed_in = exchange(addr, post).await;
    assert!(signed_in.starts_with("HTTP/1.1 303"), "{signed_in}");
    let session = header(&signed_in, "set-cookie")
        .into_iter()
        .find(|c| c.starts_with("__Host-sid="))
        .map(cookie_pair)
        .expect("a session cookie")
        .to_owned();

    let devices = exchange(addr, get("/devices", &session)).await;
    assert!(devices.starts_with("HTTP/1.1 200"), "{devices}");
    assert!(devices.contains("curl 8 on Unknown OS"));
    assert!(
        devices.contains("<dd>127.0.0.1</dd>"),
        "the peer address is recorded"
    );
    let css = exchange(addr, get("/style.css", "")).await;
    assert_eq!(
        header(&css, "content-type"),
        vec!["text/css; charset=utf-8"]
    );
}
