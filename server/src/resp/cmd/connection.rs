//! The connection commands: PING, ECHO, SELECT, AUTH, HELLO, QUIT and
//! RESET (CLIENT is `clients.rs`). They change the connection, not the data; AUTH and HELLO
//! put tokens to the connection policy, which decides and keeps count.

use super::ok;
use crate::policy::Attempt;
use crate::resp::args::Args;
use crate::resp::client::Client;
use crate::resp::errors::RespError;
use crate::resp::reply::{Protocol, Value};
use crate::resp::spec::Reply;

/// The server Redis clients are told they talk to: the version whose
/// replies the differential test holds this face to.
pub(crate) const REDIS_VERSION: &str = "7.0.15";

/// `PING [message]`.
pub(crate) fn ping(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    if client.protocol == Protocol::Resp2 && client.subscriber.is_some() {
        let message = args.next();
        args.finish()?;
        return Ok(super::pubsub::subscribed_pong(message));
    }
    let Some(message) = args.next() else {
        return Ok(Value::Simple("PONG"));
    };
    args.finish()?;
    Ok(Value::Bulk(message.to_vec()))
}

/// `ECHO message`.
pub(crate) fn echo(_: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    Ok(Value::Bulk(args.bytes()?.to_vec()))
}

/// `SELECT index`: there is one database, 0.
pub(crate) fn select(_: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    match args.integer()? {
        0 => ok(),
        _ => Err(RespError::other("DB index is out of range")),
    }
}

/// `READONLY`: this connection may read a follower's copy (see
/// `Client::stale_reads`); without replication every node leads, and this
/// changes nothing.
pub(crate) fn readonly(client: &mut Client<'_>, _: Args<'_>) -> Reply {
    client.stale_reads = true;
    ok()
}

/// `READWRITE`: back to reads from the leader only.
pub(crate) fn readwrite(client: &mut Client<'_>, _: Args<'_>) -> Reply {
    client.stale_reads = false;
    ok()
}

/// `QUIT`: OK, then the connection closes.
pub(crate) fn quit(client: &mut Client<'_>, _: Args<'_>) -> Reply {
    client.quit = true;
    ok()
}

/// `RESET`: back to a fresh connection's state (RESP2, no name, no
/// transaction or watched keys, and unauthenticated if a token is set).
pub(crate) fn reset(client: &mut Client<'_>, _: Args<'_>) -> Reply {
    super::pubsub::reset(client);
    super::monitor::reset(client);
    client.set_protocol(Protocol::Resp2);
    client.set_name(None);
    client.policy.reset();
    client.stale_reads = false;
    client.tx.discard();
    client.reply_off = false;
    client.skip_next = false;
    if let Some(entry) = &client.entry {
        entry
            .no_evict
            .store(false, std::sync::atomic::Ordering::Relaxed);
        entry
            .no_touch
            .store(false, std::sync::atomic::Ordering::Relaxed);
    }
    Ok(Value::Simple("RESET"))
}

/// `AUTH password` or `AUTH default password`.
///
/// As Redis 7 with no `requirepass`: the one-argument form is an error
/// (the client probably expected a password to be needed), while the
/// two-argument form names the `default` user, which then has no password,
/// so any password is accepted; more arguments are a syntax error.
pub(crate) fn auth(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    let (password, named) = match args.rest() {
        [password] => (password, false),
        [user, password] if &user[..] == b"default" => (password, true),
        [_, _] => return Err(RespError::WrongPass),
        [] => return Err(RespError::Arity(args.name())),
        _ => return Err(RespError::Syntax),
    };
    authenticate(client, password, named)?;
    ok()
}

/// Puts a password to the connection policy. `named` is whether the client
/// named the `default` user: then a server without a token lets it in, as
/// Redis's password-less default user does.
fn authenticate(client: &mut Client<'_>, password: &[u8], named: bool) -> Result<(), RespError> {
    match client.policy.authenticate(password) {
        Attempt::Accepted => Ok(()),
        Attempt::Refused => Err(RespError::WrongPass),
        Attempt::NoToken if named => Ok(()),
        Attempt::NoToken => Err(RespError::other(
            "AUTH <password> called without any password configured for the default user. \
             Are you sure your configuration is correct?",
        )),
    }
}

/// `HELLO [protover [AUTH user pass] [SETNAME name]]`.
pub(crate) fn hello(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    let mut protocol = client.protocol;
    if let Some(version) = args.next() {
        protocol = match &version[..] {
            b"2" => Protocol::Resp2,
            b"3" => Protocol::Resp3,
            _ => {
                return Err(RespError::Coded(
                    "NOPROTO unsupported protocol version".into(),
                ));
            }
        };
    }
    while let Some(option) = args.next() {
        let option = String::from_utf8_lossy(option).to_ascii_lowercase();
        match option.as_str() {
            "auth" => {
                let (Some(user), Some(password)) = (args.next(), args.next()) else {
                    return Err(syntax_in("HELLO", &option));
                };
                if &user[..] != b"default" {
                    return Err(RespError::WrongPass);
                }
                authenticate(client, password, true)?;
            }
            "setname" => match args.next() {
                Some(name) => client.set_name(Some(name.clone())),
                None => return Err(syntax_in("HELLO", &option)),
            },
            _ => return Err(syntax_in("HELLO", &option.to_lowercase())),
        }
    }
    if !client.policy.authenticated() {
        return Err(RespError::Coded(
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the \
             HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and \
             select the RESP protocol version at the same time"
                .into(),
        ));
    }
    client.set_protocol(protocol);
    let version = match protocol {
        Protocol::Resp3 => 3,
        Protocol::Resp2 => 2,
    };
    Ok(Value::Map(vec![
        (Value::text("server"), Value::text("redis")),
        (Value::text("version"), Value::text(REDIS_VERSION)),
        (Value::text("proto"), Value::Integer(version)),
        (Value::text("id"), client_id(client)),
        (Value::text("mode"), Value::text("standalone")),
        (Value::text("role"), Value::text(hello_role(client))),
        (Value::text("modules"), Value::Array(Vec::new())),
    ]))
}

/// HELLO's `role`, Redis's word for this node's part in the group.
fn hello_role(client: &Client<'_>) -> &'static str {
    match client.shared.group_view().role.serves() {
        true => "master",
        false => "replica",
    }
}

/// `ERR Syntax error in HELLO option 'auth'` and the like.
fn syntax_in(command: &str, option: &str) -> RespError {
    RespError::other(format!("Syntax error in {command} option '{option}'"))
}

/// The connection's id as an integer reply (CLIENT ID, HELLO).
pub(crate) fn client_id(client: &Client<'_>) -> Value {
    Value::Integer(i64::try_from(client.id).unwrap_or(i64::MAX))
}
