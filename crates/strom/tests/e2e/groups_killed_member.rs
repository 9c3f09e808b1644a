//! A classic-protocol group member killed with SIGKILL (a child process of this test binary, so no LeaveGroup
//! and no more heartbeats) keeps its partitions until `session.timeout.ms` expires, then the survivor owns and
//! reads them. Split from `groups.rs`, whose member helpers it uses.

use std::collections::BTreeSet;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use strom_test_support::wait_for;

use crate::groups::{assignment, member_config, produce, Member, GROUP_ARGS};
use crate::util::{create_topic, start_broker};

const CHILD_BOOTSTRAP: &str = "STROM_E2E_MEMBER_BOOTSTRAP";
const CHILD_GROUP: &str = "STROM_E2E_MEMBER_GROUP";
const CHILD_TOPIC: &str = "STROM_E2E_MEMBER_TOPIC";
const CHILD_OUT: &str = "STROM_E2E_MEMBER_OUT";

/// Run only as a child process of `killed_member_loses_its_partitions_after_the_session_timeout` (which sets
/// the environment): a group member with a 6 s session that writes its assignment to a file until it is killed.
#[test]
#[ignore = "helper process for killed_member_loses_its_partitions_after_the_session_timeout"]
fn member_process() {
    let vars = [CHILD_BOOTSTRAP, CHILD_GROUP, CHILD_TOPIC, CHILD_OUT].map(std::env::var);
    let [Ok(bootstrap), Ok(group), Ok(topic), Ok(out)] = vars else {
        return;
    };
    let config = member_config(&bootstrap, &group, &[("session.timeout.ms", "6000")]);
    let consumer: BaseConsumer = config.create().unwrap();
    consumer.subscribe(&[&topic]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut last = None;
    while Instant::now() < deadline {
        let _ = consumer.poll(Duration::from_millis(50));
        let now = assignment(&consumer);
        if last.as_ref() != Some(&now) {
            let text: Vec<String> = now.iter().map(i32::to_string).collect();
            let tmp = format!("{out}.tmp");
            std::fs::write(&tmp, text.join(",")).unwrap();
            std::fs::rename(&tmp, &out).unwrap();
            last = Some(now);
        }
    }
}

/// Kills the child on drop, so a failing test leaves no member behind.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn read_child_assignment(path: &std::path::Path) -> Option<BTreeSet<i32>> {
    let text = std::fs::read_to_string(path).ok()?;
    Some(
        text.split(',')
            .filter(|s| !s.is_empty())
            .filter_map(|s| s.parse().ok())
            .collect(),
    )
}

#[test]
fn killed_member_loses_its_partitions_after_the_session_timeout() {
    let broker = start_broker(GROUP_ARGS);
    let topic = "killed";
    create_topic(&broker, topic, 6, &[]);
    let bootstrap = broker.bootstrap();
    let dir = tempfile_dir();
    let out = dir.join("assignment");

    let child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "groups_killed_member::member_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_BOOTSTRAP, &bootstrap)
        .env(CHILD_GROUP, "killed")
        .env(CHILD_TOPIC, topic)
        .env(CHILD_OUT, &out)
        // The child's libtest report would read like this test binary's own.
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(child);
    wait_for(
        "the child member owns all 6",
        Duration::from_secs(60),
        || Ok((read_child_assignment(&out).is_some_and(|a| a.len() == 6)).then_some(())),
    )
    .unwrap();

    let survivor = Member::spawn(
        member_config(&bootstrap, "killed", &[("session.timeout.ms", "6000")]),
        topic,
    );
    wait_for("a 3/3 split", Duration::from_secs(60), || {
        let child = read_child_assignment(&out).unwrap_or_default();
        let mine = survivor.assignment();
        Ok((child.len() == 3 && mine.len() == 3 && child.is_disjoint(&mine)).then_some(()))
    })
    .unwrap();
    let child_partitions = read_child_assignment(&out).unwrap();

    // SIGKILL: no LeaveGroup, no more heartbeats. The survivor keeps its three until the session expires.
    child.0.kill().unwrap();
    child.0.wait().unwrap();
    let killed_at = Instant::now();
    wait_for("the survivor owns all 6", Duration::from_secs(60), || {
        Ok((survivor.assignment().len() == 6).then_some(()))
    })
    .unwrap();
    let took = killed_at.elapsed();
    assert!(
        took >= Duration::from_millis(4500),
        "partitions moved {took:?} after the kill, before the 6 s session could expire"
    );
    assert!(took < Duration::from_secs(30), "took {took:?}");

    // The survivor now reads the dead member's partitions.
    produce(&bootstrap, topic, 6, 20);
    wait_for(
        "the survivor reads the dead member's partitions",
        Duration::from_secs(60),
        || {
            let consumed = survivor.consumed.lock().unwrap();
            let read: BTreeSet<i32> = consumed.iter().map(|(p, _, _)| *p).collect();
            Ok(child_partitions.is_subset(&read).then_some(()))
        },
    )
    .unwrap();
    survivor.stop();
    broker.assert_no_panic();
}

/// A directory that lives as long as the test process (removed with the OS temp dir).
fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "strom-e2e-groups-{}-{}",
        std::process::id(),
        crate::util::now_ms()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
