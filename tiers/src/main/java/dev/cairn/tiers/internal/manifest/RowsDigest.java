package dev.cairn.tiers.internal.manifest;

import dev.cairn.tiers.internal.codec.ContentHash;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.function.IntFunction;
import net.openhft.hashing.Access;
import net.openhft.hashing.LongTupleHashFunction;

/**
 * The rows digest of a manifest ({@code cairn.rows_digest}): the content hash of its canonical text, one line per
 * metadata key and per row. The text is never built whole: a manifest of a million rows has a canonical text of a
 * few hundred megabytes, which would have to fit in the heap three times over (builder, string, UTF-8 bytes). It is
 * produced line by line into a window of {@value #WINDOW} bytes while the hash reads it: MurmurHash3 is fed block by
 * block; XXH3-128 reads its input through an {@link Access} over that window (it reads forward, looking back at most
 * one 64-byte stripe at the end), after a first pass that only measures the text's length, which XXH3 needs first.
 */
final class RowsDigest {
    /** Bytes of canonical text held at once; far more than the one stripe XXH3 looks back. */
    static final int WINDOW = 1 << 16;
    private static final LongTupleHashFunction XX128 = LongTupleHashFunction.xx128();
    private static final char[] HEX = "0123456789abcdef".toCharArray();

    private RowsDigest() {
    }

    /** The hex digest of {@code count} lines, line {@code i} being {@code line.apply(i)} (without its newline). */
    static String of(ContentHash hash, int count, IntFunction<String> line) {
        long length = 0;
        for (int i = 0; i < count; i++) {
            length += utf8Length(line.apply(i)) + 1;
        }
        if (length <= WINDOW) {
            // Small enough to hash whole, and the short-input forms of XXH3 read from both ends.
            // Assembled in place: a manifest of a few dozen rows is committed every step of a save into memory, and the
            // streaming window (64 KiB, copied byte by byte) cost more than the hash.
            byte[] all = new byte[(int) length];
            int at = 0;
            for (int i = 0; i < count; i++) {
                byte[] b = line.apply(i).getBytes(StandardCharsets.UTF_8);
                if (at + b.length + 1 > all.length) {
                    throw new IllegalStateException("canonical text longer than its measured " + length + " bytes");
                }
                System.arraycopy(b, 0, all, at, b.length);
                at += b.length;
                all[at++] = '\n';
            }
            if (at != all.length) {
                throw new IllegalStateException("canonical text of " + at + " bytes, measured " + length);
            }
            return hash.hex(all);
        }
        if (hash == ContentHash.MURMUR3_128) {
            return murmur(new Text(count, line, length), length);
        }
        long[] out = new long[2];
        XX128.hash(new Text(count, line, length), WindowAccess.INSTANCE, 0, length, out);
        return hex(out[1], out[0]); // the library gives the low half first; the canonical form starts with the high
    }

    /** The lines of {@code lines}, for the callers that hold them as a list. */
    static String of(ContentHash hash, List<String> lines) {
        return of(hash, lines.size(), lines::get);
    }

    private static String murmur(Text text, long length) {
        StreamingMurmur3 m = new StreamingMurmur3();
        byte[] block = new byte[WINDOW];
        for (long done = 0; done < length; ) {
            int n = (int) Math.min(WINDOW, length - done);
            text.copy(block, n);
            m.update(block, n);
            done += n;
        }
        long[] out = m.finish();
        return hex(out[0], out[1]);
    }

    static String hex(long high, long low) {
        char[] out = new char[32];
        for (int i = 0; i < 16; i++) {
            out[15 - i] = HEX[(int) (high >>> (i * 4)) & 15];
            out[31 - i] = HEX[(int) (low >>> (i * 4)) & 15];
        }
        return new String(out);
    }

    private static long utf8Length(String s) {
        long n = 0;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c < 0x80) {
                n++;
            } else if (c < 0x800) {
                n += 2;
            } else if (Character.isHighSurrogate(c) && i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1))) {
                n += 4;
                i++;
            } else {
                n += Character.isSurrogate(c) ? 1 : 3; // String.getBytes writes a lone surrogate as '?'
            }
        }
        return n;
    }

    /** The canonical text, produced forward into a ring of {@link #WINDOW} bytes. */
    private static final class Text {
        private final int count;
        private final IntFunction<String> line;
        private final long length;
        private final byte[] ring = new byte[WINDOW];
        private int nextLine;
        private byte[] current = new byte[0];
        private int inCurrent;
        private long produced;

        Text(int count, IntFunction<String> line, long length) {
            this.count = count;
            this.line = line;
            this.length = length;
        }

        /** Produces text up to (excluding) absolute offset {@code end}. */
        void produceTo(long end) {
            while (produced < end) {
                if (inCurrent == current.length) {
                    if (nextLine == count) {
                        throw new IllegalStateException("canonical text ended at " + produced + " bytes");
                    }
                    current = (line.apply(nextLine++) + "\n").getBytes(StandardCharsets.UTF_8);
                    inCurrent = 0;
                    continue;
                }
                int n = (int) Math.min(Math.min(current.length - inCurrent, end - produced),
                        WINDOW - (produced & (WINDOW - 1)));
                System.arraycopy(current, inCurrent, ring, (int) (produced & (WINDOW - 1)), n);
                inCurrent += n;
                produced += n;
            }
        }

        int byteAt(long offset) {
            if (offset >= produced) {
                // Ahead in steps of half the window, so that the stripe XXH3 reads last (64 bytes back) is still held.
                produceTo(Math.min(length, Math.max(offset + 1, offset + WINDOW / 2)));
            }
            if (offset < produced - WINDOW || offset < 0) {
                throw new IllegalStateException("hash read offset " + offset + " behind the window ending at " + produced);
            }
            return ring[(int) (offset & (WINDOW - 1))];
        }

        /** The next {@code n} bytes of text, from the start of {@code dst}; for block-wise hashing. */
        void copy(byte[] dst, long n) {
            long start = produced;
            for (long done = 0; done < n; ) {
                long upTo = Math.min(start + n, produced + WINDOW);
                produceTo(upTo);
                for (long o = start + done; o < upTo; o++) {
                    dst[(int) (o - start)] = ring[(int) (o & (WINDOW - 1))];
                }
                done = upTo - start;
            }
        }
    }

    /** Reads the little-endian bytes of a {@link Text}; XXH3 asks for nothing else. */
    private static final class WindowAccess extends Access<Text> {
        static final WindowAccess INSTANCE = new WindowAccess();

        @Override
        public int getByte(Text input, long offset) {
            return input.byteAt(offset);
        }

        @Override
        public int getUnsignedByte(Text input, long offset) {
            return input.byteAt(offset) & 0xff;
        }

        @Override
        public long getLong(Text input, long offset) {
            long v = 0;
            for (int i = 7; i >= 0; i--) {
                v = (v << 8) | (input.byteAt(offset + i) & 0xffL);
            }
            return v;
        }

        @Override
        public long getUnsignedInt(Text input, long offset) {
            return getInt(input, offset) & 0xffffffffL;
        }

        @Override
        public int getInt(Text input, long offset) {
            int v = 0;
            for (int i = 3; i >= 0; i--) {
                v = (v << 8) | (input.byteAt(offset + i) & 0xff);
            }
            return v;
        }

        @Override
        public int getUnsignedShort(Text input, long offset) {
            return (input.byteAt(offset) & 0xff) | (input.byteAt(offset + 1) & 0xff) << 8;
        }

        @Override
        public int getShort(Text input, long offset) {
            return (short) getUnsignedShort(input, offset);
        }

        @Override
        public ByteOrder byteOrder(Text input) {
            return ByteOrder.LITTLE_ENDIAN;
        }

        @Override
        protected Access<Text> reverseAccess() {
            throw new UnsupportedOperationException("the canonical text is read little-endian only");
        }
    }

    /** MurmurHash3 x64 128 (seed 0) fed in pieces; equal to {@link ContentHash#MURMUR3_128} of the whole. */
    private static final class StreamingMurmur3 {
        private static final long C1 = 0x87c37b91114253d5L;
        private static final long C2 = 0x4cf5ad432745937fL;
        private long h1;
        private long h2;
        private long length;
        private final ByteBuffer tail = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN);

        void update(byte[] b, int n) {
            ByteBuffer in = ByteBuffer.wrap(b, 0, n).order(ByteOrder.LITTLE_ENDIAN);
            length += n;
            while (in.hasRemaining()) {
                if (tail.position() == 0 && in.remaining() >= 16) {
                    mix(in.getLong(), in.getLong());
                    continue;
                }
                tail.put(in.get());
                if (!tail.hasRemaining()) {
                    tail.flip();
                    mix(tail.getLong(), tail.getLong());
                    tail.clear();
                }
            }
        }

        private void mix(long k1, long k2) {
            k1 *= C1;
            k1 = Long.rotateLeft(k1, 31);
            k1 *= C2;
            h1 ^= k1;
            h1 = Long.rotateLeft(h1, 27);
            h1 += h2;
            h1 = h1 * 5 + 0x52dce729;
            k2 *= C2;
            k2 = Long.rotateLeft(k2, 33);
            k2 *= C1;
            h2 ^= k2;
            h2 = Long.rotateLeft(h2, 31);
            h2 += h1;
            h2 = h2 * 5 + 0x38495ab5;
        }

        long[] finish() {
            int rest = tail.position();
            long k1 = 0;
            long k2 = 0;
            for (int i = rest - 1; i >= 8; i--) {
                k2 = (k2 << 8) | (tail.get(i) & 0xffL);
            }
            for (int i = Math.min(rest, 8) - 1; i >= 0; i--) {
                k1 = (k1 << 8) | (tail.get(i) & 0xffL);
            }
            if (rest > 8) {
                k2 *= C2;
                k2 = Long.rotateLeft(k2, 33);
                k2 *= C1;
                h2 ^= k2;
            }
            if (rest > 0) {
                k1 *= C1;
                k1 = Long.rotateLeft(k1, 31);
                k1 *= C2;
                h1 ^= k1;
            }
            h1 ^= length;
            h2 ^= length;
            h1 += h2;
            h2 += h1;
            h1 = fmix(h1);
            h2 = fmix(h2);
            h1 += h2;
            h2 += h1;
            return new long[] {h1, h2};
        }

        private static long fmix(long k) {
            k ^= k >>> 33;
            k *= 0xff51afd7ed558ccdL;
            k ^= k >>> 33;
            k *= 0xc4ceb9fe1a85ec53L;
            k ^= k >>> 33;
            return k;
        }
    }
}
