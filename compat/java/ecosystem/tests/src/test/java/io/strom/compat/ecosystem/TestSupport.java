package io.strom.compat.ecosystem;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.Callable;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;

/** Shared bits of the ecosystem tests. */
final class TestSupport {
    private TestSupport() {}

    /** A fresh directory for one test's brokers, child JVM logs and files, under target/compat-work. */
    static Path workDir(String test) throws IOException {
        Path root = Path.of(System.getProperty("compat.work.dir", "target/compat-work")).toAbsolutePath()
                .normalize();
        Path dir = root.resolve(test + "-" + System.currentTimeMillis());
        Files.createDirectories(dir);
        return dir;
    }

    static Admin admin(String bootstrap) {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 30000);
        p.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, 10000);
        return Admin.create(p);
    }

    static void createTopic(String bootstrap, String topic, int partitions, Map<String, String> configs)
            throws Exception {
        try (Admin admin = admin(bootstrap)) {
            admin.createTopics(List.of(new NewTopic(topic, partitions, (short) 1).configs(configs))).all().get();
        }
    }

    /** Polls {@code check} every 250 ms until it returns true; false when {@code timeout} passes first. */
    static boolean waitFor(Duration timeout, Callable<Boolean> check) throws Exception {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            if (check.call()) {
                return true;
            }
            if (System.nanoTime() > deadline) {
                return false;
            }
            Thread.sleep(250);
        }
    }

    /** The last {@code max} lines of a log file that contain {@code text}, for failure messages. */
    static String grep(Path log, String text, int max) {
        try {
            List<String> hits = Files.readAllLines(log).stream().filter(l -> l.contains(text)).toList();
            return String.join("\n", hits.subList(Math.max(0, hits.size() - max), hits.size()));
        } catch (IOException e) {
            return "(cannot read " + log + ": " + e + ")";
        }
    }

    /** The last {@code lines} lines of a log file, for failure messages. */
    static String tail(Path log, int lines) {
        try {
            List<String> all = Files.readAllLines(log);
            return String.join("\n", all.subList(Math.max(0, all.size() - lines), all.size()));
        } catch (IOException e) {
            return "(cannot read " + log + ": " + e + ")";
        }
    }
}
