//! Replication: a group of nodes that agree, through openraft, on one log
//! of every write, so that a node's death loses no acknowledged login or
//! logout (docs/replication.md).

mod view;

pub(crate) use view::{GroupView, MemberView, Role};
