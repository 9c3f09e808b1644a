package io.strom.compat.ecosystem;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.File;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

/**
 * N real {@code strom} processes forming one cluster, on free ports of 127.0.0.1, each with its own data dir and
 * log under {@code dir}. One node runs a single-node metadata quorum; more nodes share a quorum over their
 * CONTROLLER listeners (as README.md's three-machine example). Settings are those of the other compat suites'
 * brokers (compat/kafka-python/run.sh): short group timeouts so a test does not wait for Kafka's production
 * defaults.
 */
public final class StromCluster implements AutoCloseable {
    private final String name;
    private final Path dir;
    private final List<Process> nodes = new ArrayList<>();
    private final List<Integer> ports = new ArrayList<>();

    private StromCluster(String name, Path dir) {
        this.name = name;
        this.dir = dir;
    }

    /** The broker binary: STROM_BIN, else the repo's own debug build (like compat/kafka-python/run.sh). */
    public static Path stromBinary() {
        String env = System.getenv("STROM_BIN");
        Path bin;
        if (env != null && !env.isEmpty()) {
            bin = Path.of(env);
        } else {
            // The repo: the nearest parent of the working directory (compat/java/ecosystem/tests) with crates/.
            Path repo = Path.of("").toAbsolutePath();
            while (repo.getParent() != null && !Files.isDirectory(repo.resolve("crates/strom"))) {
                repo = repo.getParent();
            }
            String target = System.getenv("CARGO_TARGET_DIR");
            bin = (target != null && !target.isEmpty() ? Path.of(target) : repo.resolve("target"))
                    .resolve("debug/strom");
        }
        if (!Files.isExecutable(bin)) {
            throw new IllegalStateException("no strom binary at " + bin
                    + " (set STROM_BIN, or build it with `cargo build -p strom`)");
        }
        return bin;
    }

    public static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    /** Starts {@code count} nodes (ids 1..count) and waits until every one answers ApiVersions. */
    public static StromCluster start(String name, int count, Path workDir, Map<String, String> overrides)
            throws IOException, InterruptedException {
        Path dir = workDir.resolve("strom-" + name);
        Files.createDirectories(dir);
        StromCluster cluster = new StromCluster(name, dir);
        Path bin = stromBinary();
        List<Integer> controllerPorts = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            cluster.ports.add(freePort());
            controllerPorts.add(freePort());
        }
        String voters = "";
        if (count > 1) {
            List<String> v = new ArrayList<>();
            for (int i = 0; i < count; i++) {
                v.add((i + 1) + "@127.0.0.1:" + controllerPorts.get(i));
            }
            voters = String.join(",", v);
        }
        Map<String, String> settings = new TreeMap<>();
        settings.put("num.partitions", "1");
        settings.put("default.replication.factor", String.valueOf(Math.min(count, 3)));
        settings.put("offsets.topic.replication.factor", String.valueOf(Math.min(count, 3)));
        settings.put("offsets.topic.num.partitions", "4");
        settings.put("group.min.session.timeout.ms", "1000");
        settings.put("group.initial.rebalance.delay.ms", "0");
        settings.put("offsets.commit.timeout.ms", "2000");
        settings.put("replica.lag.time.max.ms", "5000");
        settings.putAll(overrides);
        try {
            for (int i = 0; i < count; i++) {
                int port = cluster.ports.get(i);
                Path nodeDir = dir.resolve("node-" + (i + 1));
                Files.createDirectories(nodeDir);
                List<String> cmd = new ArrayList<>(List.of(bin.toString(), "server",
                        "--node-id", String.valueOf(i + 1),
                        "--advertised-listeners", "PLAINTEXT://127.0.0.1:" + port,
                        "--log-dirs", nodeDir.resolve("data").toString()));
                if (count > 1) {
                    cmd.addAll(List.of("--listeners",
                            "PLAINTEXT://127.0.0.1:" + port + ",CONTROLLER://127.0.0.1:" + controllerPorts.get(i),
                            "--controller-quorum-voters", voters));
                } else {
                    cmd.addAll(List.of("--listeners", "PLAINTEXT://127.0.0.1:" + port));
                }
                for (Map.Entry<String, String> e : settings.entrySet()) {
                    cmd.add("--override");
                    cmd.add(e.getKey() + "=" + e.getValue());
                }
                File log = nodeDir.resolve("strom.log").toFile();
                ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true)
                        .redirectOutput(ProcessBuilder.Redirect.appendTo(log));
                pb.environment().putIfAbsent("RUST_LOG", "info");
                cluster.nodes.add(pb.start());
            }
            for (int i = 0; i < count; i++) {
                cluster.awaitReady(i, Duration.ofSeconds(60));
            }
        } catch (IOException | InterruptedException | RuntimeException e) {
            cluster.close();
            throw e;
        }
        return cluster;
    }

    public static StromCluster start(String name, Path workDir) throws IOException, InterruptedException {
        return start(name, 1, workDir, Map.of());
    }

    public String bootstrapServers() {
        return ports.stream().map(p -> "127.0.0.1:" + p).collect(Collectors.joining(","));
    }

    public Path dir() {
        return dir;
    }

    /** The API keys and version ranges the first node advertises in ApiVersions. */
    public Map<Integer, int[]> apiVersions() throws IOException {
        return apiVersions(ports.get(0));
    }

    private void awaitReady(int i, Duration timeout) throws IOException, InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        IOException last = null;
        while (System.nanoTime() < deadline) {
            if (!nodes.get(i).isAlive()) {
                throw new IllegalStateException("strom node " + (i + 1) + " of cluster " + name + " exited with "
                        + nodes.get(i).exitValue() + "; see " + dir.resolve("node-" + (i + 1) + "/strom.log"));
            }
            try {
                if (!apiVersions(ports.get(i)).isEmpty()) {
                    return;
                }
            } catch (IOException e) {
                last = e;
            }
            Thread.sleep(100);
        }
        throw new IOException("strom node " + (i + 1) + " of cluster " + name + " not ready after " + timeout, last);
    }

    /** ApiVersions v0 on a raw socket: api_key -> {min, max}. */
    static Map<Integer, int[]> apiVersions(int port) throws IOException {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress("127.0.0.1", port), 1000);
            s.setSoTimeout(5000);
            DataOutputStream out = new DataOutputStream(s.getOutputStream());
            byte[] clientId = "strom-compat".getBytes(StandardCharsets.UTF_8);
            out.writeInt(2 + 2 + 4 + 2 + clientId.length);
            out.writeShort(18); // ApiVersions
            out.writeShort(0);
            out.writeInt(7); // correlation id
            out.writeShort(clientId.length);
            out.write(clientId);
            out.flush();
            DataInputStream in = new DataInputStream(s.getInputStream());
            in.readInt(); // size
            if (in.readInt() != 7) {
                throw new IOException("ApiVersions answer with the wrong correlation id");
            }
            short error = in.readShort();
            if (error != 0) {
                throw new IOException("ApiVersions error code " + error);
            }
            int n = in.readInt();
            Map<Integer, int[]> apis = new TreeMap<>();
            for (int k = 0; k < n; k++) {
                int key = in.readShort();
                int min = in.readShort();
                int max = in.readShort();
                apis.put(key, new int[] {min, max});
            }
            return apis;
        }
    }

    @Override
    public void close() {
        for (Process p : nodes) {
            p.destroy();
        }
        for (int i = 0; i < nodes.size(); i++) {
            Process p = nodes.get(i);
            try {
                if (!p.waitFor(20, TimeUnit.SECONDS)) {
                    System.err.println("strom node " + (i + 1) + " of " + name + " still running 20 s after SIGTERM;"
                            + " killing it");
                    p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
                }
            } catch (InterruptedException e) {
                p.destroyForcibly();
                Thread.currentThread().interrupt();
            }
        }
        nodes.clear();
    }
}
