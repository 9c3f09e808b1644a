//! Test-only: the script harness behind the data-driven tests of the classic group state machine and of
//! committed offsets (`classic/tests.rs`, `offsets/tests.rs`, `coordinator/tests.rs`). Each case is a script
//! of requests and clock advances for one group "g", run through the [`GroupCoordinator`] facade; the
//! transcript of every answer (immediate or delayed), record and state is compared with the expected text.
//! Members are named by aliases (a, b, ...); generated member ids are printed as their alias so transcripts
//! stay stable. Holds no test itself.

use std::collections::BTreeMap;
use std::fmt::Write;

use bytes::{BufMut, Bytes, BytesMut};
use strom_protocol::kafka_protocol::messages::ConsumerProtocolSubscription;
use strom_protocol::kafka_protocol::protocol::{Encodable, StrBytes};

use crate::config::GroupConfig;
use crate::coordinator::GroupCoordinator;
use crate::error::Error;
use crate::record::Record;
use crate::types::{
    CommitOffsets, CommitPartition, Effects, JoinGroup, LeaveMember, Protocol, Reply, SyncGroup,
    Token,
};

pub(crate) struct Harness {
    pub(crate) c: GroupCoordinator,
    now: i64,
    next_token: Token,
    /// alias → member id (once known).
    ids: BTreeMap<String, String>,
    /// token → alias of the request that is waiting.
    waiting: BTreeMap<Token, String>,
    out: String,
}

pub(crate) fn subscription(topics: &[&str]) -> Bytes {
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
    pub(crate) fn new(config: GroupConfig) -> Harness {
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
                    let fx = self.c.join_group(token, req, &|_| None, self.now);
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
                    for c in self.c.fetch_offsets("g", None) {
                        let offset = c.offset.map_or(-1, |v| v.offset);
                        writeln!(self.out, "  {}-{}={offset}", c.topic, c.partition).unwrap();
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
pub(crate) fn check(script: &str, expected: &str) {
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
