//! Data-driven tests of committed offsets (simple and member commits, commits during a rebalance,
//! OffsetDelete against subscribed topics, expiry of an empty group's offsets), as scripts run through
//! `crate::testkit`.

use crate::testkit::check;

#[test]
fn simple_commits_only_without_members() {
    check(
        "
        commit - t-0=10 t-1=11
        fetch
        state
        join a v3
        sync a assign
        commit - t-0=12
        commit a gen=1 t-0=12
        fetch
        leave a
        commit - t-0=13
        fetch
        ",
        "
        commit - t-0=10 t-1=11
          t-0: None
          t-1: None
          record offset t-0=10
          record offset t-1=11
        fetch
          t-0=10
          t-1=11
        state
          Empty type= proto= members=[]
        join a v3
          join a: gen=1 proto=range leader=a members=[a]
        sync a assign
          sync a: assignment=asg-a
          record group gen=1 members=[a]
        commit - t-0=12
          t-0: Some(UnknownMemberId)
        commit a gen=1 t-0=12
          t-0: None
          record offset t-0=12
        fetch
          t-0=12
          t-1=11
        leave a
          [Ok(())]
          record group gen=2 members=[]
        commit - t-0=13
          t-0: None
          record offset t-0=13
        fetch
          t-0=13
          t-1=11
        ",
    );
}

#[test]
fn commit_during_rebalance() {
    check(
        "
        join a v3
        join b v3
        join a
        sync b gen=2
        sync a gen=2 assign
        join c v3
        commit a gen=2 t-0=1
        join a
        join b
        commit a gen=3 t-0=2
        commit b gen=2 t-0=3
        commit z gen=3 t-0=4
        ",
        "
        join a v3
          join a: gen=1 proto=range leader=a members=[a]
        join b v3
        join a
          join a: gen=2 proto=range leader=a members=[a,?c-f4240-2]
          join b: gen=2 proto=range leader=a
        sync b gen=2
        sync a gen=2 assign
          sync a: assignment=asg-a
          sync b: assignment=asg-b
          record group gen=2 members=[a,b]
        join c v3
        commit a gen=2 t-0=1
          t-0: None
          record offset t-0=1
        join a
        join b
          join a: gen=3 proto=range leader=a members=[a,b,?c-f4240-3]
          join b: gen=3 proto=range leader=a
          join c: gen=3 proto=range leader=a
        commit a gen=3 t-0=2
          t-0: Some(RebalanceInProgress)
        commit b gen=2 t-0=3
          t-0: Some(IllegalGeneration { expected: 3, got: 2 })
        commit z gen=3 t-0=4
          t-0: Some(UnknownMemberId)
        ",
    );
}

#[test]
fn offset_delete_refuses_subscribed_topics() {
    check(
        "
        join a v3 topics=t
        sync a assign
        commit a gen=1 t-0=1 u-0=2
        delete-offsets t-0 u-0 v-0
        fetch
        ",
        "
        join a v3 topics=t
          join a: gen=1 proto=range leader=a members=[a]
        sync a assign
          sync a: assignment=asg-a
          record group gen=1 members=[a]
        commit a gen=1 t-0=1 u-0=2
          t-0: None
          u-0: None
          record offset t-0=1
          record offset u-0=2
        delete-offsets t-0 u-0 v-0
          t-0: Some(GroupSubscribedToTopic)
          u-0: None
          v-0: None
          record offset u-0 tombstone
        fetch
          t-0=1
        ",
    );
}

#[test]
fn offsets_of_empty_groups_expire() {
    check(
        "
        commit - t-0=1
        expire 604799999
        fetch
        expire 1
        state
        ",
        "
        commit - t-0=1
          t-0: None
          record offset t-0=1
        expire 604799999
        fetch
          t-0=1
        expire 1
          record offset t-0 tombstone
          record group tombstone
        state
          no group
        ",
    );
}
