//! Data-driven tests of the classic group protocol (JoinGroup, SyncGroup, Heartbeat, LeaveGroup, static
//! membership, KIP-394 pending members, the initial delay and the rebalance timers), as scripts run through
//! `crate::testkit`: each compares the transcript of answers, records and states with the expected text.

use crate::testkit::check;

#[test]
fn two_members_join_and_sync() {
    check(
        "
        join a
        join a
        join b
        join b
        state
        join a
        state
        sync b gen=2
        sync a gen=2 assign
        state
        hb a gen=2
        hb b gen=2
        join b
        ",
        "
        join a
          join a: MemberIdRequired
        join a
          join a: gen=1 proto=range leader=a members=[a]
        join b
          join b: MemberIdRequired
        join b
        state
          PreparingRebalance type=consumer proto= members=[a,b]
        join a
          join a: gen=2 proto=range leader=a members=[a,b]
          join b: gen=2 proto=range leader=a
        state
          CompletingRebalance type=consumer proto= members=[a,b]
        sync b gen=2
        sync a gen=2 assign
          sync a: assignment=asg-a
          sync b: assignment=asg-b
          record group gen=2 members=[a,b]
        state
          Stable type=consumer proto=range members=[a,b]
        hb a gen=2
          Ok(())
        hb b gen=2
          Ok(())
        join b
          join b: gen=2 proto=range leader=a
        ",
    );
}

#[test]
fn v3_joins_without_member_id_required() {
    check(
        "
        join a v3
        sync a assign
        state
        ",
        "
        join a v3
          join a: gen=1 proto=range leader=a members=[a]
        sync a assign
          sync a: assignment=asg-a
          record group gen=1 members=[a]
        state
          Stable type=consumer proto=range members=[a]
        ",
    );
}

#[test]
fn initial_delay_waits_for_more_members() {
    check(
        "
        initial-delay=3000
        join a v3
        tick 2000
        join b v3
        tick 1000
        tick 2999
        tick 1
        state
        ",
        "
        join a v3
        tick 2000
        join b v3
        tick 1000
        tick 2999
        tick 1
          join a: gen=1 proto=range leader=a members=[a,?c-f4a10-2]
          join b: gen=1 proto=range leader=a
        state
          CompletingRebalance type=consumer proto= members=[a,b]
        ",
    );
}

#[test]
fn unknown_member_and_stale_generation() {
    check(
        "
        join a v3
        sync a assign
        hb x as=nobody
        join x as=nobody
        sync x as=nobody
        sync a gen=7
        hb a gen=0
        commit a gen=0 t-0=5
        commit x as=nobody gen=1 t-0=5
        commit a gen=1 t-0=5
        fetch
        ",
        "
        join a v3
          join a: gen=1 proto=range leader=a members=[a]
        sync a assign
          sync a: assignment=asg-a
          record group gen=1 members=[a]
        hb x as=nobody
          Err(UnknownMemberId)
        join x as=nobody
          join x: UnknownMemberId
        sync x as=nobody
          sync x: UnknownMemberId
        sync a gen=7
          sync a: IllegalGeneration { expected: 1, got: 7 }
        hb a gen=0
          Err(IllegalGeneration { expected: 1, got: 0 })
        commit a gen=0 t-0=5
          t-0: Some(IllegalGeneration { expected: 1, got: 0 })
        commit x as=nobody gen=1 t-0=5
          t-0: Some(UnknownMemberId)
        commit a gen=1 t-0=5
          t-0: None
          record offset t-0=5
        fetch
          t-0=5
        ",
    );
}

#[test]
fn leave_rebalances_remaining_members() {
    check(
        "
        join a v3
        join b v3
        join a
        sync b gen=2
        sync a gen=2 assign
        leave b
        state
        hb a gen=2
        join a
        sync a gen=3 assign
        leave b
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
        leave b
          [Ok(())]
        state
          PreparingRebalance type=consumer proto= members=[a]
        hb a gen=2
          Err(RebalanceInProgress)
        join a
          join a: gen=3 proto=range leader=a members=[a]
        sync a gen=3 assign
          sync a: assignment=asg-a
          record group gen=3 members=[a]
        leave b
          [Err(UnknownMemberId)]
        ",
    );
}

#[test]
fn session_expiry_removes_member() {
    check(
        "
        join a v3
        join b v3
        join a
        sync b gen=2
        sync a gen=2 assign
        tick 5000
        hb a gen=2
        tick 5000
        hb b gen=2
        state
        join a
        state
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
        tick 5000
        hb a gen=2
          Ok(())
        tick 5000
        hb b gen=2
          Err(UnknownMemberId)
        state
          PreparingRebalance type=consumer proto= members=[a]
        join a
          join a: gen=3 proto=range leader=a members=[a]
        state
          CompletingRebalance type=consumer proto= members=[a]
        ",
    );
}

#[test]
fn rebalance_timeout_drops_members_that_do_not_rejoin() {
    check(
        "
        join a v3
        join b v3
        join a
        sync b gen=2
        sync a gen=2 assign
        join a proto=range,roundrobin
        hb b gen=2
        tick 9000
        hb b gen=2
        tick 9000
        hb b gen=2
        tick 9000
        hb b gen=2
        tick 3000
        state
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
        join a proto=range,roundrobin
        hb b gen=2
          Err(RebalanceInProgress)
        tick 9000
        hb b gen=2
          Err(RebalanceInProgress)
        tick 9000
        hb b gen=2
          Err(RebalanceInProgress)
        tick 9000
        hb b gen=2
          Err(RebalanceInProgress)
        tick 3000
          join a: gen=3 proto=range leader=a members=[a]
        state
          CompletingRebalance type=consumer proto= members=[a]
        ",
    );
}

#[test]
fn followers_wait_for_leader_sync_and_laggards_are_removed() {
    check(
        "
        join a v3
        join b v3
        join c v3
        join a
        sync b gen=2
        hb c gen=2
        sync a gen=2 assign
        tick 9000
        hb a gen=2
        hb b gen=2
        hb c gen=2
        tick 9000
        hb a gen=2
        hb b gen=2
        hb c gen=2
        tick 9000
        hb a gen=2
        hb b gen=2
        hb c gen=2
        tick 3000
        state
        ",
        "
        join a v3
          join a: gen=1 proto=range leader=a members=[a]
        join b v3
        join c v3
        join a
          join a: gen=2 proto=range leader=a members=[a,?c-f4240-2,?c-f4240-3]
          join b: gen=2 proto=range leader=a
          join c: gen=2 proto=range leader=a
        sync b gen=2
        hb c gen=2
          Ok(())
        sync a gen=2 assign
          sync a: assignment=asg-a
          sync b: assignment=asg-b
          record group gen=2 members=[a,b,c]
        tick 9000
        hb a gen=2
          Ok(())
        hb b gen=2
          Ok(())
        hb c gen=2
          Ok(())
        tick 9000
        hb a gen=2
          Ok(())
        hb b gen=2
          Ok(())
        hb c gen=2
          Ok(())
        tick 9000
        hb a gen=2
          Ok(())
        hb b gen=2
          Ok(())
        hb c gen=2
          Ok(())
        tick 3000
        state
          PreparingRebalance type=consumer proto= members=[a,b]
        ",
    );
}

#[test]
fn static_member_rejoin_replaces_member_without_rebalance() {
    check(
        "
        join a v3 instance=ia
        join b v3 instance=ib
        join a instance=ia
        sync b gen=2 instance=ib
        sync a gen=2 instance=ia assign
        join b2 fresh instance=ib
        state
        hb b gen=2
        hb b gen=2 instance=ib
        hb b2 gen=2 instance=ib
        commit b gen=2 instance=ib t-0=1
        commit b2 gen=2 instance=ib t-0=2
        sync b2 gen=2 instance=ib
        leave instance=ib
        state
        ",
        "
        join a v3 instance=ia
          join a: gen=1 proto=range leader=a members=[a]
        join b v3 instance=ib
        join a instance=ia
          join a: gen=2 proto=range leader=a members=[a,?c-f4240-2]
          join b: gen=2 proto=range leader=a
        sync b gen=2 instance=ib
        sync a gen=2 instance=ia assign
          sync a: assignment=asg-a
          sync b: assignment=asg-b
          record group gen=2 members=[a,b]
        join b2 fresh instance=ib
          join b2: gen=2 proto=range leader=a
          record group gen=2 members=[a,b2]
        state
          Stable type=consumer proto=range members=[a,b2]
        hb b gen=2
          Err(UnknownMemberId)
        hb b gen=2 instance=ib
          Err(FencedInstanceId)
        hb b2 gen=2 instance=ib
          Ok(())
        commit b gen=2 instance=ib t-0=1
          t-0: Some(FencedInstanceId)
        commit b2 gen=2 instance=ib t-0=2
          t-0: None
          record offset t-0=2
        sync b2 gen=2 instance=ib
          sync b2: assignment=asg-b
        leave instance=ib
          [Ok(())]
        state
          PreparingRebalance type=consumer proto= members=[a]
        ",
    );
}

#[test]
fn static_leader_rejoin_skips_assignment() {
    check(
        "
        join a v3 instance=ia
        sync a assign instance=ia
        join a2 fresh instance=ia
        state
        sync a2 instance=ia assign
        ",
        "
        join a v3 instance=ia
          join a: gen=1 proto=range leader=a members=[a]
        sync a assign instance=ia
          sync a: assignment=asg-a
          record group gen=1 members=[a]
        join a2 fresh instance=ia
          join a2: gen=1 proto=range leader=a2 members=[a2] skip_assignment
          record group gen=1 members=[a2]
        state
          Stable type=consumer proto=range members=[a2]
        sync a2 instance=ia assign
          sync a2: assignment=asg-a
        ",
    );
}

#[test]
fn static_member_with_new_protocols_rebalances() {
    check(
        "
        join a v3 instance=ia
        join b v3 instance=ib
        join a instance=ia
        sync b gen=2 instance=ib
        sync a gen=2 instance=ia assign
        join b2 fresh instance=ib proto=range,sticky
        state
        join a instance=ia
        ",
        "
        join a v3 instance=ia
          join a: gen=1 proto=range leader=a members=[a]
        join b v3 instance=ib
        join a instance=ia
          join a: gen=2 proto=range leader=a members=[a,?c-f4240-2]
          join b: gen=2 proto=range leader=a
        sync b gen=2 instance=ib
        sync a gen=2 instance=ia assign
          sync a: assignment=asg-a
          sync b: assignment=asg-b
          record group gen=2 members=[a,b]
        join b2 fresh instance=ib proto=range,sticky
        state
          PreparingRebalance type=consumer proto= members=[a,?c-f4240-3]
        join a instance=ia
          join a: gen=3 proto=range leader=a members=[a,?c-f4240-3]
          join b2: gen=3 proto=range leader=a
        ",
    );
}

#[test]
fn static_member_survives_missing_the_rebalance() {
    check(
        "
        join a v3 instance=ia
        join b v3 instance=ib
        join a instance=ia
        sync b gen=2 instance=ib
        sync a gen=2 instance=ia assign
        join a instance=ia meta=changed
        tick 9000
        hb b gen=2 instance=ib
        tick 9000
        hb b gen=2 instance=ib
        tick 9000
        hb b gen=2 instance=ib
        tick 3000
        state
        join b instance=ib
        sync b gen=3 instance=ib
        sync a gen=3 instance=ia assign
        ",
        "
        join a v3 instance=ia
          join a: gen=1 proto=range leader=a members=[a]
        join b v3 instance=ib
        join a instance=ia
          join a: gen=2 proto=range leader=a members=[a,?c-f4240-2]
          join b: gen=2 proto=range leader=a
        sync b gen=2 instance=ib
        sync a gen=2 instance=ia assign
          sync a: assignment=asg-a
          sync b: assignment=asg-b
          record group gen=2 members=[a,b]
        join a instance=ia meta=changed
        tick 9000
        hb b gen=2 instance=ib
          Err(RebalanceInProgress)
        tick 9000
        hb b gen=2 instance=ib
          Err(RebalanceInProgress)
        tick 9000
        hb b gen=2 instance=ib
          Err(RebalanceInProgress)
        tick 3000
          join a: gen=3 proto=range leader=a members=[a,b]
        state
          CompletingRebalance type=consumer proto= members=[a,b]
        join b instance=ib
          join b: gen=3 proto=range leader=a
        sync b gen=3 instance=ib
        sync a gen=3 instance=ia assign
          sync a: assignment=asg-a
          sync b: assignment=asg-b
          record group gen=3 members=[a,b]
        ",
    );
}

#[test]
fn inconsistent_protocols_are_refused() {
    check(
        "
        join a v3 proto=range
        join b v3 proto=roundrobin
        join c v3 type=connect
        join d v3 proto=roundrobin,range
        join a proto=range
        sync d gen=2 proto=roundrobin
        sync d gen=2 proto=range
        ",
        "
        join a v3 proto=range
          join a: gen=1 proto=range leader=a members=[a]
        join b v3 proto=roundrobin
          join b: InconsistentGroupProtocol
        join c v3 type=connect
          join c: InconsistentGroupProtocol
        join d v3 proto=roundrobin,range
        join a proto=range
          join a: gen=2 proto=range leader=a members=[a,?c-f4240-4]
          join d: gen=2 proto=range leader=a
        sync d gen=2 proto=roundrobin
          sync d: InconsistentGroupProtocol
        sync d gen=2 proto=range
        ",
    );
}

#[test]
fn protocol_selection_by_votes() {
    check(
        "
        join a v3 proto=roundrobin,range
        join b v3 proto=range,roundrobin
        join c v3 proto=range,roundrobin
        join a proto=roundrobin,range
        ",
        "
        join a v3 proto=roundrobin,range
          join a: gen=1 proto=roundrobin leader=a members=[a]
        join b v3 proto=range,roundrobin
        join c v3 proto=range,roundrobin
        join a proto=roundrobin,range
          join a: gen=2 proto=range leader=a members=[a,?c-f4240-2,?c-f4240-3]
          join b: gen=2 proto=range leader=a
          join c: gen=2 proto=range leader=a
        ",
    );
}

#[test]
fn invalid_session_timeout() {
    check(
        "
        join a v3 session=100
        join a v3 session=99999999
        ",
        "
        join a v3 session=100
          join a: InvalidSessionTimeout { session_timeout_ms: 100, min: 6000, max: 1800000 }
        join a v3 session=99999999
          join a: InvalidSessionTimeout { session_timeout_ms: 99999999, min: 6000, max: 1800000 }
        ",
    );
}

#[test]
fn pending_member_id_expires() {
    check(
        "
        join a v3 session=60000
        sync a assign
        join b
        tick 10000
        join b
        ",
        "
        join a v3 session=60000
          join a: gen=1 proto=range leader=a members=[a]
        sync a assign
          sync a: assignment=asg-a
          record group gen=1 members=[a]
        join b
          join b: MemberIdRequired
        tick 10000
        join b
          join b: UnknownMemberId
        ",
    );
}

#[test]
fn pending_member_id_rejoins() {
    check(
        "
        join a v3 session=60000
        sync a assign
        join b
        join b
        state
        join a
        sync a gen=2 assign
        ",
        "
        join a v3 session=60000
          join a: gen=1 proto=range leader=a members=[a]
        sync a assign
          sync a: assignment=asg-a
          record group gen=1 members=[a]
        join b
          join b: MemberIdRequired
        join b
        state
          PreparingRebalance type=consumer proto= members=[a,b]
        join a
          join a: gen=2 proto=range leader=a members=[a,b]
          join b: gen=2 proto=range leader=a
        sync a gen=2 assign
          sync a: assignment=asg-a
          record group gen=2 members=[a,b]
        ",
    );
}
