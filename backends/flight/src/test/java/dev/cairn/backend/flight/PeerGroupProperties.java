package dev.cairn.backend.flight;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.cairn.ObjectInfo;
import java.nio.ByteBuffer;
import java.nio.file.NoSuchFileException;
import java.util.List;
import java.util.TreeSet;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.From;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.Size;

/**
 * Whatever a group does (content-addressed puts and deletes through any member, with k replicas), once replication
 * is idle every member sees the same objects, the ones the model says exist, with their bytes; and losing any k
 * members loses none of them.
 */
class PeerGroupProperties {

    /** Put (through a member) or delete (through a member) of one of a few keys. */
    record Op(boolean put, int member, int key) {
    }

    @Provide
    Arbitrary<Op> ops() {
        return Combinators.combine(Arbitraries.of(true, true, false), Arbitraries.integers().between(0, 2),
                Arbitraries.integers().between(0, 5)).as(Op::new);
    }

    @Property(tries = 15)
    void everyMemberSeesTheModelAfterReplicationAndSurvivesAnyKLosses(@ForAll @Size(max = 12) List<@From("ops") Op> ops,
                                                                      @ForAll @IntRange(min = 1, max = 2) int k,
                                                                      @ForAll @IntRange(min = 0, max = 2) int lost)
            throws Exception {
        TreeSet<String> model = new TreeSet<>();
        try (PeerGroup group = PeerGroup.start(3, b -> b.replicationFactor(k))) {
            for (Op op : ops) {
                String key = "run/chunks/" + op.key();
                if (op.put()) {
                    group.peer(op.member()).put(key, ByteBuffer.wrap(content(op.key())));
                    model.add(key);
                } else {
                    group.peer(op.member()).delete(key);
                    model.remove(key);
                }
                group.awaitReplication(); // a delete through another member than the writer races its replicas
            }
            for (int member = 0; member < 3; member++) {
                assertEquals(List.copyOf(model), keys(group.peer(member).list("run/")), "member " + member);
            }
            for (int victim = lost; victim < lost + k; victim++) {
                group.kill(victim % 3);
            }
            int survivor = (lost + k) % 3;
            for (int key = 0; key < 6; key++) {
                String name = "run/chunks/" + key;
                if (model.contains(name)) {
                    assertArrayEquals(content(key), PeerReplicationTest.bytesOf(group.peer(survivor).readAll(name)), name);
                } else {
                    assertThrows(NoSuchFileException.class, () -> group.peer(survivor).stat(name));
                }
            }
        }
    }

    private static byte[] content(int key) {
        return PeerReplicationTest.randomBytes(key, 100 + key * 5000);
    }

    private static List<String> keys(List<ObjectInfo> infos) {
        return infos.stream().map(ObjectInfo::key).toList();
    }
}
