//! NODE.ADD and NODE.REMOVE, the replication group's membership changes.
//!
//! On a member of a group they never get here: `resp/replicated.rs`
//! hands them to openraft (they wait for a majority, which a handler
//! cannot). A node without peers has no membership to change.

use super::super::args::Args;
use super::super::client::Client;
use super::super::errors::RespError;
use super::super::spec::Reply;

/// Refuses: this node runs alone.
pub(crate) fn standalone(_: &mut Client<'_>, _: Args<'_>) -> Reply {
    Err(RespError::Other(
        "not in a replication group (start the node with --raft-listen)".into(),
    ))
}
