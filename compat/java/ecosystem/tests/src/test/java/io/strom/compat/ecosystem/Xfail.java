package io.strom.compat.ecosystem;

import org.opentest4j.TestAbortedException;

/**
 * Expected failures. JUnit 5 has no xfail, so a test body whose failure is expected runs as usual, and a failure is
 * turned into an aborted test (surefire reports it as skipped, with "expected failure: REASON: the failure" as the
 * message). A body that passes although its failure was expected passes and says so on stderr (and in the
 * surefire report's output): the mark is then stale and should go.
 */
public final class Xfail {
    @FunctionalInterface
    public interface Body {
        void run() throws Exception;
    }

    private Xfail() {}

    /**
     * Runs {@code body}; when {@code expectedToFail} its failure is reported as an expected failure with
     * {@code reason}, otherwise every failure is a real one. Used for features another issue delivers: the test
     * passes {@code expectedToFail = !broker.advertises(feature)}, so it becomes a normal test when the feature lands.
     */
    public static void run(boolean expectedToFail, String reason, Body body) throws Exception {
        if (!expectedToFail) {
            body.run();
            return;
        }
        try {
            body.run();
        } catch (AssertionError | Exception e) {
            System.err.println("XFAIL (" + reason + "): " + e);
            throw new TestAbortedException("expected failure: " + reason + ": " + e, e);
        }
        System.err.println("XPASS: passed although expected to fail (" + reason + "); remove the mark");
    }

    /** A Strom defect found by this test: "STROM BUG: what Strom does, what Kafka does". */
    public static void strombug(String reason, Body body) throws Exception {
        run(true, "STROM BUG: " + reason, body);
    }
}
