//! What clients ask a Redis server about itself: TIME here; INFO is
//! `info.rs`, CONFIG `config.rs`, SLOWLOG and LATENCY `slowlog.rs`, and
//! COMMAND, which describes the command table, lives with the table.

use crate::resp::args::Args;
use crate::resp::client::Client;
use crate::resp::reply::Value;
use crate::resp::spec::Reply;

/// `TIME`: Unix seconds and microseconds, as two bulk strings, by the
/// store's clock (whose resolution is a millisecond).
pub(crate) fn time(client: &mut Client<'_>, _: Args<'_>) -> Reply {
    let now_ms = client.store.now_ms();
    Ok(Value::Array(vec![
        Value::text((now_ms / 1000).to_string()),
        Value::text((now_ms % 1000 * 1000).to_string()),
    ]))
}
