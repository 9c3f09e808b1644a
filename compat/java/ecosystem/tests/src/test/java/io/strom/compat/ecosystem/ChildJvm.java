package io.strom.compat.ecosystem;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A Java main class run in its own JVM (a Kafka Streams instance, a Connect worker, MirrorMaker) with its output in a
 * log file. {@link Classpath#STREAMS} is the tests module's runtime classpath (Kafka 4.4.0 and this module's
 * classes), {@link Classpath#CONNECT} the connect-plugins module's (Connect and MirrorMaker, see ../pom.xml); both
 * are written by maven-dependency-plugin before the tests run. {@link #kill()} is SIGKILL (a crash), {@link #stop()} is SIGTERM (Kafka's shutdown hooks run).
 */
public final class ChildJvm implements AutoCloseable {
    private final String name;
    private final Process process;
    private final Path log;

    private ChildJvm(String name, Process process, Path log) {
        this.name = name;
        this.process = process;
        this.log = log;
    }

    public enum Classpath { STREAMS, CONNECT }

    public static ChildJvm start(String name, Path log, Classpath classpath, String mainClass, List<String> args)
            throws IOException {
        String cp;
        if (classpath == Classpath.STREAMS) {
            String cpFile = System.getProperty("compat.classpath.file", "target/runtime-classpath.txt");
            String classes = System.getProperty("compat.classes.dir", "target/classes");
            cp = classes + java.io.File.pathSeparator + Files.readString(Path.of(cpFile)).trim();
        } else {
            String cpFile = System.getProperty("compat.connect.classpath.file",
                    "../connect-plugins/target/connect-classpath.txt");
            cp = Files.readString(Path.of(cpFile)).trim();
        }
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        // Small heaps and a quick JIT: several of these JVMs share a 2-core machine with the brokers.
        cmd.addAll(List.of("-Xms64m", "-Xmx384m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                "-Dorg.slf4j.simpleLogger.showDateTime=true",
                "-Dorg.slf4j.simpleLogger.dateTimeFormat=HH:mm:ss.SSS",
                "-Dorg.slf4j.simpleLogger.defaultLogLevel=info"));
        cmd.addAll(List.of("-cp", cp, mainClass));
        cmd.addAll(args);
        Files.createDirectories(log.getParent());
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile())).start();
        return new ChildJvm(name, p, log);
    }

    public boolean isAlive() {
        return process.isAlive();
    }

    public Path log() {
        return log;
    }

    public long pid() {
        return process.pid();
    }

    /** SIGKILL: no shutdown hook, no final commit; the crash a test wants. */
    public void kill() throws InterruptedException {
        process.destroyForcibly();
        process.waitFor(30, TimeUnit.SECONDS);
    }

    /** SIGTERM and wait for a clean exit (SIGKILL after {@code timeout}); returns whether it exited cleanly. */
    public boolean stop(Duration timeout) throws InterruptedException {
        if (!process.isAlive()) {
            return false;
        }
        process.destroy();
        if (process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
            return true;
        }
        System.err.println(name + " still running " + timeout + " after SIGTERM; killing it");
        kill();
        return false;
    }

    /** Whether the log holds {@code text} yet. */
    public boolean logContains(String text) throws IOException {
        return Files.exists(log) && Files.readString(log).contains(text);
    }

    public String describe() {
        return name + " (pid " + process.pid() + ", log " + log + ")";
    }

    @Override
    public void close() throws InterruptedException {
        if (process.isAlive()) {
            stop(Duration.ofSeconds(15));
        }
    }
}
