package dev.cairn.tiers;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import dev.cairn.CairnConfig;
import dev.cairn.Checkpointer;
import dev.cairn.DType;
import dev.cairn.RestoreRequest;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.memory.MemoryObjectStore;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.slf4j.LoggerFactory;
import org.slf4j.MDC;

/**
 * Run by {@link LogsWithRunRankAndStepTest} in a JVM whose SLF4J provider is Logback (the test JVM's is slf4j-nop,
 * whose MDC keeps nothing): saves and restores with the engine's logger at DEBUG into a list, then prints each event
 * as {@code EVENT|level|thread|run|rank|step|message} (Logback's default console lines may be between), and {@code MDC-after <map>} for the caller's MDC once done.
 */
public final class LoggingChild {
    public static void main(String[] args) throws Exception {
        LoggerContext context = (LoggerContext) LoggerFactory.getILoggerFactory();
        Logger engine = context.getLogger("dev.cairn");
        engine.setLevel(Level.DEBUG);
        ListAppender<ILoggingEvent> events = new ListAppender<>();
        events.setContext(context);
        events.start();
        engine.addAppender(events);
        MDC.put("app", "kept");
        TrainingState state = TrainingState.builder().add(Fixtures.randomTensor("w", DType.F32, 50_000, 7)).build();
        try (MemoryObjectStore fast = new MemoryObjectStore(64L << 20);
             MemoryObjectStore slow = new MemoryObjectStore(64L << 20);
             Checkpointer cp = Checkpointer.open(CairnConfig.builder("logged").chunkBytes(64 << 10).stagingBytes(16L << 20)
                     .encoderThreads(1).gcGrace(Duration.ZERO).rank(0, 1).tier(TierConfig.of("fast", fast))
                     .tier(TierConfig.of("slow", slow).everySteps(2)).build())) {
            cp.save(1, state).done().get(60, TimeUnit.SECONDS);
            cp.save(2, state).done().get(60, TimeUnit.SECONDS);
            cp.restore(RestoreRequest.latest());
        }
        for (ILoggingEvent e : events.list) {
            var mdc = e.getMDCPropertyMap();
            System.out.println("EVENT|" + e.getLevel() + "|" + e.getThreadName() + "|" + mdc.get("cairn.run") + "|" + mdc.get("cairn.rank")
                    + "|" + mdc.get("cairn.step") + "|" + e.getFormattedMessage());
        }
        System.out.println("MDC-after " + MDC.getCopyOfContextMap());
    }
}
