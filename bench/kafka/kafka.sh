#!/usr/bin/env bash
# bench/kafka/kafka.sh: Apache Kafka 4.4.0 as a reference broker (bench/run.sh, compat/differential/). Only the
# released jars are used: kafka_2.13 and its runtime dependencies from Maven Central (bench/kafka/pom.xml, copied
# with `mvn dependency:copy-dependencies`), cached in ${XDG_CACHE_HOME:-$HOME/.cache}/strom-bench/kafka-4.4.0.
#
#   bench/kafka/kafka.sh libs                      prints the directory holding the jars (fetching them once)
#   bench/kafka/kafka.sh format DIR PORT CPORT [KEY=VALUE ...]
#       writes DIR/server.properties (single node in KRaft combined mode: broker + controller, node.id 1, the
#       PLAINTEXT listener on 127.0.0.1:PORT, the controller on 127.0.0.1:CPORT, log.dirs DIR/data; extra
#       KEY=VALUE lines override or add settings), formats DIR/data with kafka.tools.StorageTool (`format
#       --standalone`, once per DIR)
#   bench/kafka/kafka.sh start DIR PORT CPORT [KEY=VALUE ...]
#       the same (the format only if DIR is not formatted yet), then execs the broker JVM in the foreground, as
#       bin/kafka-server-start.sh would: heap -Xmx1G -Xms1G, the JVM flags of bin/kafka-run-class.sh, a GC log
#       (the start script's -loggc) in DIR. The log goes to stdout; run it in the background and kill it to stop.
# Environment: JAVA (default: $JAVA_HOME/bin/java or java), MVN (default mvn), KAFKA_HEAP_OPTS and
# KAFKA_JVM_PERFORMANCE_OPTS override the defaults as they do for Kafka's own scripts; KAFKA_MINIMAL_CONFIG=1
# leaves out the optional settings of the distribution's sample config (thread counts, socket buffers, retention,
# segment size, num.partitions: all equal to Kafka's defaults, but set statically they are reported by
# DescribeConfigs with source STATIC_BROKER_CONFIG instead of DEFAULT_CONFIG).
set -euo pipefail

VERSION=4.4.0
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${XDG_CACHE_HOME:-$HOME/.cache}/strom-bench/kafka-$VERSION
java=${JAVA:-${JAVA_HOME:+$JAVA_HOME/bin/java}}
java=${java:-java}

libs() {
    local sum
    sum=$(sha256sum "$here/pom.xml" | cut -c1-16)
    if [[ ! -f $cache/libs/.complete-$sum ]]; then
        echo "kafka.sh: copying kafka_2.13 $VERSION and its runtime dependencies from Maven Central into $cache/libs" >&2
        rm -rf "$cache/libs"
        mkdir -p "$cache"
        # -B: no progress bars; the local repository (~/.m2) keeps the downloads for Maven itself.
        timeout 900 "${MVN:-mvn}" -B -q -Dstyle.color=never -f "$here/pom.xml" dependency:copy-dependencies -DincludeScope=runtime \
            -DoutputDirectory="$cache/libs" >&2
        touch "$cache/libs/.complete-$sum"
    fi
    echo "$cache/libs"
}

setup() { # setup DIR PORT CPORT [KEY=VALUE ...]: config files and the storage format; sets dir, lib, perf, log4j
    dir=$1
    local port=$2 cport=$3
    shift 3
    lib=$(libs)
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    # The settings of config/server.properties in Kafka's distribution (single node, combined mode), with this
    # machine's addresses and paths; everything else is Kafka's default.
    {
        echo "process.roles=broker,controller"
        echo "node.id=1"
        echo "controller.quorum.bootstrap.servers=127.0.0.1:$cport"
        echo "listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport"
        echo "advertised.listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport"
        echo "inter.broker.listener.name=PLAINTEXT"
        echo "controller.listener.names=CONTROLLER"
        echo "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL"
        echo "log.dirs=$dir/data"
        echo "offsets.topic.replication.factor=1"
        echo "share.coordinator.state.topic.replication.factor=1"
        echo "share.coordinator.state.topic.min.isr=1"
        echo "transaction.state.log.replication.factor=1"
        echo "transaction.state.log.min.isr=1"
        if [[ ${KAFKA_MINIMAL_CONFIG:-0} != 1 ]]; then
            echo "num.network.threads=3"
            echo "num.io.threads=8"
            echo "socket.send.buffer.bytes=102400"
            echo "socket.receive.buffer.bytes=102400"
            echo "socket.request.max.bytes=104857600"
            echo "num.partitions=1"
            echo "num.recovery.threads.per.data.dir=1"
            echo "log.retention.hours=168"
            echo "log.segment.bytes=1073741824"
            echo "log.retention.check.interval.ms=300000"
        fi
        local kv
        for kv in "$@"; do echo "$kv"; done
    } > "$dir/server.properties"
    # Kafka's config/log4j2.yaml logs INFO to stdout and server.log and splits a few loggers into their own files;
    # here everything goes to stdout (the caller's log file), with the request logger at WARN as there.
    cat > "$dir/log4j2.properties" <<'LOG4J'
status = warn
appender.stdout.type = Console
appender.stdout.name = STDOUT
appender.stdout.layout.type = PatternLayout
appender.stdout.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.requestchannel.name = kafka.network.RequestChannel$
logger.requestchannel.level = WARN
LOG4J
    log4j="-Dlog4j2.configurationFile=file:$dir/log4j2.properties"
    # bin/kafka-server-start.sh and bin/kafka-run-class.sh defaults (MaxInlineLevel=15, which older scripts
    # also pass, is the JVM's default since JDK 14).
    perf=${KAFKA_JVM_PERFORMANCE_OPTS:--server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true}
    if [[ ! -f $dir/data/meta.properties ]]; then
        local id
        # A Kafka Uuid: 16 random bytes, URL-safe base64 without padding, never starting with '-' (as
        # `kafka-storage.sh random-uuid` makes them).
        id=$(python3 -c 'import base64,os
while True:
    s = base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")
    if not s.startswith("-"): print(s); break')
        # kafka-storage.sh runs with kafka-run-class.sh's default heap (-Xmx256M).
        # shellcheck disable=SC2086
        "$java" -Xmx256M $perf "$log4j" -cp "$lib/*" kafka.tools.StorageTool format -t "$id" \
            -c "$dir/server.properties" --standalone >"$dir/format.log" 2>&1 \
            || { cat "$dir/format.log" >&2; exit 1; }
    fi
}

start() {
    setup "$@"
    local heap=${KAFKA_HEAP_OPTS:--Xmx1G -Xms1G}
    local gclog="-Xlog:gc*:file=$dir/kafkaServer-gc.log:time,tags:filecount=10,filesize=100M"
    # shellcheck disable=SC2086
    exec "$java" $heap $perf $gclog "$log4j" -cp "$lib/*" kafka.Kafka "$dir/server.properties"
}

case ${1:-} in
    libs) libs ;;
    format) shift; setup "$@" ;;
    start) shift; start "$@" ;;
    *) sed -n '2,20p' "$0" >&2; exit 2 ;;
esac
