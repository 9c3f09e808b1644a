//! Data-driven tests of the classic group state machine. Each case is a script of requests and clock
//! advances for one group "g"; the transcript of every answer (immediate or delayed), record and state is
//! compared with the expected text. Members are named by aliases (a, b, ...); generated member ids are
//! printed as their alias so transcripts stay stable.

use std::collections::BTreeMap;
use std::fmt::Write;

use bytes::{BufMut, Bytes, BytesMut};
use strom_protocol::kafka_protocol::messages::ConsumerProtocolSubscription;
use strom_protocol::kafka_protocol::protocol::{Encodable, StrBytes};

use crate::*;

struct Harness {
    c: GroupCoordinator,
    now: i64,
    next_token: Token,
    /// alias → member id (once known).
    ids: BTreeMap<String, String>,
    /// token → alias of the request that is waiting.
    waiting: BTreeMap<Token, String>,
    out: String,
}

fn subscription(topics: &[&str]) -> Bytes {
    let sub = ConsumerProtocolSubscription::default().with_topics(
        topics
            .iter()
            .map(|t| StrBytes::from_string(t.to_string()))
            .collect(),
    );
    let mut buf = BytesMut::new();
    buf.put_i16(1);
    sub.encode(&mut buf, 1).unwrap();
    buf.freeze()
}

impl Harness {
    fn new(config: GroupConfig) -> Harness {
        Harness {
            c: GroupCoordinator::new(config),
            now: 1_000_000,
            next_token: 1,
            ids: BTreeMap::new(),
            waiting: BTreeMap::new(),
            out: String::new(),
        }
    }

    fn alias_of(&self, member_id: &str) -> String {
        self.ids
            .iter()
            .find(|(_, id)| *id == member_id)
            .map(|(a, _)| a.clone())
            .unwrap_or_else(|| format!("?{member_id}"))
    }

    fn effects(&mut self, fx: Effects) {
        for reply in fx.replies {
            match reply {
                Reply::Join(t, r) => {
                    let alias = self.waiting.remove(&t).unwrap();
                    let text = match r {
                        Ok(j) => {
                            self.ids.insert(alias.clone(), j.member_id.clone());
                            let members: Vec<String> = j
                                .members
                                .iter()
                                .map(|m| self.alias_of(&m.member_id))
                                .collect();
                            format!(
                                "gen={} proto={} leader={}{}{}",
                                j.generation_id,
                                j.protocol_name.unwrap_or_default(),
                                self.alias_of(&j.leader),
                                if members.is_empty() {
                                    String::new()
                                } else {
                                    format!(" members=[{}]", members.join(","))
                                },
                                if j.skip_assignment {
                                    " skip_assignment"
                                } else {
                                    ""
                                }
                            )
                        }
                        Err(Error::MemberIdRequired { member_id }) => {
                            self.ids.insert(alias.clone(), member_id);
                            "MemberIdRequired".to_string()
                        }
                        Err(e) => format!("{e:?}"),
                    };
                    writeln!(self.out, "  join {alias}: {text}").unwrap();
                }
                Reply::Sync(t, r) => {
                    let alias = self.waiting.remove(&t).unwrap();
                    let text = match r {
                        Ok(s) => format!("assignment={}", String::from_utf8_lossy(&s.assignment)),
                        Err(e) => format!("{e:?}"),
                    };
                    writeln!(self.out, "  sync {alias}: {text}").unwrap();
                }
            }
        }
        self.records(&fx.records);
    }

    fn records(&mut self, records: &[Record]) {
        for r in records {
            let text = match r {
                Record::Offset {
                    topic,
                    partition,
                    value,
                    ..
                } => match value {
                    Some(v) => format!("offset {topic}-{partition}={}", v.offset),
                    None => format!("offset {topic}-{partition} tombstone"),
                },
                Record::Group { value: Some(v), .. } => {
                    let members: Vec<String> = v
                        .members
                        .iter()
                        .map(|m| self.alias_of(&m.member_id))
                        .collect();
                    format!(
                        "group gen={} members=[{}]",
                        v.generation_id,
                        members.join(",")
                    )
                }
                Record::Group { value: None, .. } => "group tombstone".to_string(),
                Record::Consumer { key, value, .. } => format!(
                    "consumer {key:?}{}",
                    if value.is_none() { " tombstone" } else { "" }
                ),
            };
            writeln!(self.out, "  record {text}").unwrap();
        }
    }

    fn member_id(&self, alias: &str) -> String {
        self.ids.get(alias).cloned().unwrap_or_default()
    }

    /// The member id a request uses: its alias's, or with `as=<x>` the id of alias x (or x itself when x is
    /// no alias, e.g. a made-up id).
    fn resolve(&self, alias: &str, as_: Option<String>) -> String {
        match as_ {
            Some(other) => self.ids.get(&other).cloned().unwrap_or(other),
            None => self.member_id(alias),
        }
    }

    fn run(&mut self, script: &str) -> String {
        for line in script.lines().map(str::trim).filter(|l| !l.is_empty()) {
            writeln!(self.out, "{line}").unwrap();
            let mut words = line.split_whitespace();
            let cmd = words.next().unwrap();
            let args: Vec<&str> = words.collect();
            let opt = |key: &str| {
                args.iter()
                    .find_map(|a| a.strip_prefix(&format!("{key}=")))
                    .map(str::to_string)
            };
            let flag = |f: &str| args.contains(&f);
            let alias = args.first().copied().unwrap_or("").to_string();
            let gen = || opt("gen").map(|g| g.parse::<i32>().unwrap());
            match cmd {
                "join" => {
                    let token = self.next_token;
                    self.next_token += 1;
                    self.waiting.insert(token, alias.clone());
                    let protocols = opt("proto")
                        .unwrap_or_else(|| "range".into())
                        .split(',')
                        .map(|name| Protocol {
                            name: name.to_string(),
                            metadata: match opt("topics") {
                                Some(t) => subscription(&t.split(',').collect::<Vec<_>>()),
                                None => Bytes::from(opt("meta").unwrap_or_else(|| "m".into())),
                            },
                        })
                        .collect();
                    // `as=<alias>` joins with another alias's member id (e.g. a stale one).
                    let member_id = match opt("as") {
                        Some(other) => self.ids.get(&other).cloned().unwrap_or(other),
                        None if flag("fresh") => String::new(),
                        None => self.member_id(&alias),
                    };
                    let req = JoinGroup {
                        group_id: "g".into(),
                        member_id,
                        group_instance_id: opt("instance"),
                        client_id: "c".into(),
                        client_host: "/127.0.0.1".into(),
                        session_timeout_ms: opt("session").map_or(10_000, |s| s.parse().unwrap()),
                        rebalance_timeout_ms: 30_000,
                        protocol_type: opt("type").unwrap_or_else(|| "consumer".into()),
                        protocols,
                        require_known_member_id: !flag("v3"),
                    };
                    let fx = self.c.join_group(token, req, self.now);
                    self.effects(fx);
                }
                "sync" => {
                    let token = self.next_token;
                    self.next_token += 1;
                    self.waiting.insert(token, alias.clone());
                    let assignments = if flag("assign") {
                        self.ids
                            .iter()
                            .map(|(a, id)| (id.clone(), Bytes::from(format!("asg-{a}"))))
                            .collect()
                    } else {
                        Vec::new()
                    };
                    let req = SyncGroup {
                        group_id: "g".into(),
                        generation_id: gen().unwrap_or(1),
                        member_id: self.resolve(&alias, opt("as")),
                        group_instance_id: opt("instance"),
                        protocol_type: None,
                        protocol_name: opt("proto"),
                        assignments,
                    };
                    let fx = self.c.sync_group(token, req, self.now);
                    self.effects(fx);
                }
                "hb" => {
                    let member_id = self.resolve(&alias, opt("as"));
                    let r = self.c.heartbeat(
                        "g",
                        &member_id,
                        opt("instance").as_deref(),
                        gen().unwrap_or(1),
                        self.now,
                    );
                    writeln!(self.out, "  {r:?}").unwrap();
                }
                "leave" => {
                    let leaving: Vec<LeaveMember> = args
                        .iter()
                        .map(|a| match a.strip_prefix("instance=") {
                            Some(i) => LeaveMember {
                                member_id: String::new(),
                                group_instance_id: Some(i.to_string()),
                            },
                            None => LeaveMember {
                                member_id: self.member_id(a),
                                group_instance_id: None,
                            },
                        })
                        .collect();
                    let (results, fx) = self.c.leave_group("g", &leaving, self.now);
                    writeln!(self.out, "  {results:?}").unwrap();
                    self.effects(fx);
                }
                "tick" => {
                    self.now += alias.parse::<i64>().unwrap();
                    let fx = self.c.tick(self.now);
                    self.effects(fx);
                }
                "commit" => {
                    // commit <alias|-> gen=N topic-partition=offset ...
                    let member_id = if alias == "-" {
                        String::new()
                    } else {
                        self.resolve(&alias, opt("as"))
                    };
                    let partitions = args
                        .iter()
                        .filter(|a| a.contains('-') && a.contains('=') && !a.starts_with("as="))
                        .map(|a| {
                            let (tp, offset) = a.split_once('=').unwrap();
                            let (t, p) = tp.rsplit_once('-').unwrap();
                            CommitPartition {
                                topic: t.into(),
                                partition: p.parse().unwrap(),
                                offset: offset.parse().unwrap(),
                                leader_epoch: -1,
                                metadata: None,
                            }
                        })
                        .collect();
                    let req = CommitOffsets {
                        group_id: "g".into(),
                        generation_id: gen().unwrap_or(-1),
                        member_id,
                        group_instance_id: opt("instance"),
                        partitions,
                    };
                    let (results, records) = self.c.commit_offsets(&req, self.now);
                    for r in results {
                        writeln!(self.out, "  {}-{}: {:?}", r.topic, r.partition, r.error).unwrap();
                    }
                    self.records(&records);
                    for r in &records {
                        self.c.replay(r, self.now);
                    }
                }
                "fetch" => {
                    for (t, p, v) in self.c.fetch_offsets("g", None) {
                        writeln!(self.out, "  {t}-{p}={}", v.map_or(-1, |v| v.offset)).unwrap();
                    }
                }
                "delete-offsets" => {
                    let partitions: Vec<(String, i32)> = args
                        .iter()
                        .map(|a| {
                            let (t, p) = a.rsplit_once('-').unwrap();
                            (t.to_string(), p.parse().unwrap())
                        })
                        .collect();
                    match self.c.delete_offsets("g", &partitions) {
                        Ok((results, records)) => {
                            for r in results {
                                writeln!(self.out, "  {}-{}: {:?}", r.topic, r.partition, r.error)
                                    .unwrap();
                            }
                            self.records(&records);
                            for r in &records {
                                self.c.replay(r, self.now);
                            }
                        }
                        Err(e) => writeln!(self.out, "  {e:?}").unwrap(),
                    }
                }
                "delete-group" => match self.c.delete_group("g") {
                    Ok(records) => self.records(&records),
                    Err(e) => writeln!(self.out, "  {e:?}").unwrap(),
                },
                "expire" => {
                    self.now += alias.parse::<i64>().unwrap();
                    let records = self.c.expire_offsets(self.now);
                    self.records(&records);
                }
                "state" => {
                    let text = match self.c.describe_group("g") {
                        Some(d) => {
                            let members: Vec<String> = d
                                .members
                                .iter()
                                .map(|m| self.alias_of(&m.member_id))
                                .collect();
                            format!(
                                "{} type={} proto={} members=[{}]",
                                d.state.name(),
                                d.protocol_type,
                                d.protocol_data,
                                members.join(",")
                            )
                        }
                        None => "no group".into(),
                    };
                    writeln!(self.out, "  {text}").unwrap();
                }
                other => panic!("unknown command {other}"),
            }
        }
        std::mem::take(&mut self.out)
    }
}

/// Runs `script` with no initial rebalance delay unless the script asks for one with its first line.
fn check(script: &str, expected: &str) {
    let mut config = GroupConfig {
        initial_rebalance_delay_ms: 0,
        ..GroupConfig::default()
    };
    let mut script = script;
    if let Some(rest) = script.trim_start().strip_prefix("initial-delay=3000") {
        config.initial_rebalance_delay_ms = 3000;
        script = rest;
    }
    let mut h = Harness::new(config);
    let got = h.run(script);
    let norm = |s: &str| {
        s.lines()
            .map(str::trim_end)
            .filter(|l| !l.trim().is_empty())
            .map(|l| l.trim().to_string())
            .collect::<Vec<_>>()
            .join("\n")
    };
    if norm(&got) != norm(expected) {
        panic!("transcript differs\n--- got ---\n{got}\n--- expected ---\n{expected}");
    }
}

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
        ",
    );
}

#[test]
fn delete_group_and_offsets() {
    check(
        "
        join a v3
        sync a assign
        commit a gen=1 t-0=1 u-0=2
        delete-group
        delete-offsets t-0
        leave a
        state
        delete-group
        state
        delete-offsets t-0
        ",
        "
        join a v3
          join a: gen=1 proto=range leader=a members=[a]
        sync a assign
          sync a: assignment=asg-a
          record group gen=1 members=[a]
        commit a gen=1 t-0=1 u-0=2
          t-0: None
          u-0: None
          record offset t-0=1
          record offset u-0=2
        delete-group
          NonEmptyGroup
        delete-offsets t-0
          t-0: None
          record offset t-0 tombstone
        leave a
          [Ok(())]
          record group gen=2 members=[]
        state
          Empty type=consumer proto= members=[]
        delete-group
          record offset u-0 tombstone
          record group tombstone
        state
          no group
        delete-offsets t-0
          GroupIdNotFound
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

/// Everything a coordinator persisted, replayed into a fresh one (a broker restart), restores groups and
/// committed offsets; members come back Stable and keep their generation.
#[test]
fn replay_restores_groups_and_offsets() {
    let mut h = Harness::new(GroupConfig {
        initial_rebalance_delay_ms: 0,
        ..GroupConfig::default()
    });
    let mut records = Vec::new();
    let fx = h.c.join_group(
        1,
        JoinGroup {
            group_id: "g".into(),
            member_id: String::new(),
            group_instance_id: None,
            client_id: "c".into(),
            client_host: String::new(),
            session_timeout_ms: 10_000,
            rebalance_timeout_ms: 30_000,
            protocol_type: "consumer".into(),
            protocols: vec![Protocol {
                name: "range".into(),
                metadata: subscription(&["t"]),
            }],
            require_known_member_id: false,
        },
        0,
    );
    let Some(Reply::Join(_, Ok(join))) = fx.replies.first().cloned() else {
        panic!("{fx:?}")
    };
    let sync = SyncGroup {
        group_id: "g".into(),
        generation_id: join.generation_id,
        member_id: join.member_id.clone(),
        group_instance_id: None,
        protocol_type: None,
        protocol_name: None,
        assignments: vec![(join.member_id.clone(), Bytes::from_static(b"asg"))],
    };
    records.extend(h.c.sync_group(2, sync, 0).records);
    let commit = CommitOffsets {
        group_id: "g".into(),
        generation_id: join.generation_id,
        member_id: join.member_id.clone(),
        group_instance_id: None,
        partitions: vec![CommitPartition {
            topic: "t".into(),
            partition: 0,
            offset: 42,
            leader_epoch: 3,
            metadata: Some("m".into()),
        }],
    };
    let (_, commit_records) = h.c.commit_offsets(&commit, 0);
    records.extend(commit_records);
    let (_, simple) = h.c.commit_offsets(
        &CommitOffsets {
            group_id: "simple".into(),
            generation_id: -1,
            member_id: String::new(),
            group_instance_id: None,
            partitions: vec![CommitPartition {
                topic: "t".into(),
                partition: 1,
                offset: 7,
                leader_epoch: -1,
                metadata: None,
            }],
        },
        0,
    );
    records.extend(simple);

    // Through the on-disk encoding, as the broker replays it.
    let mut restored = GroupCoordinator::new(GroupConfig::default());
    for r in &records {
        let back = Record::decode(&r.key(), r.value().as_deref())
            .unwrap()
            .unwrap();
        restored.replay(&back, 1000);
    }
    let d = restored.describe_group("g").unwrap();
    assert_eq!(d.state, GroupState::Stable);
    assert_eq!(d.protocol_data, "range");
    assert_eq!(d.members[0].member_id, join.member_id);
    assert_eq!(d.members[0].assignment, Bytes::from_static(b"asg"));
    let offsets = restored.fetch_offsets("g", None);
    assert_eq!(offsets.len(), 1);
    assert_eq!(
        offsets[0].2.as_ref().map(|v| (v.offset, v.leader_epoch)),
        Some((42, 3))
    );
    assert_eq!(
        restored
            .fetch_offsets("simple", Some(&[("t".into(), 1), ("t".into(), 2)]))
            .iter()
            .map(|(_, _, v)| v.as_ref().map(|v| v.offset))
            .collect::<Vec<_>>(),
        vec![Some(7), None]
    );
    // The restored member carries on with its generation.
    assert_eq!(
        restored.heartbeat("g", &join.member_id, None, join.generation_id, 2000),
        Ok(())
    );
    // ...and is subscribed to "t" for OffsetDelete.
    assert_eq!(
        restored.delete_offsets("g", &[("t".into(), 0)]).unwrap().0[0].error,
        Some(Error::GroupSubscribedToTopic)
    );
    // Its session was restarted at load time and expires without heartbeats.
    let fx = restored.tick(2000 + 10_000);
    assert_eq!(
        restored.describe_group("g").unwrap().state,
        GroupState::Empty
    );
    assert!(fx.replies.is_empty());
    assert_eq!(fx.records.len(), 1, "the emptied group is persisted");
    let listing = restored.list_groups(&[]);
    assert_eq!(listing.len(), 2);
}
