package sample;

import java.nio.charset.Charset;
import java.nio.charset.StandardCharsets;

/**
 * Shaped like Tomcat's connector request where {@code TomcatRequests} reads it: the facade, the
 * mapping data's match type, and the raw request URI bytes behind {@code getRequestURI()}.
 */
public class FakeConnectorRequest {
    /** How many times {@link #getRequestURI} decoded the URI. */
    public int decoded;
    public final Object facade = new Object();
    public final MappingData mapping = new MappingData();
    private final Coyote coyote = new Coyote();

    /** Sets the raw URI: {@code text} placed at {@code offset} of a larger buffer. */
    public void uri(String text, int offset) {
        byte[] raw = text.getBytes(StandardCharsets.UTF_8);
        byte[] buffer = new byte[offset + raw.length + 7];
        System.arraycopy(raw, 0, buffer, offset, raw.length);
        coyote.uri.chunk.buffer = buffer;
        coyote.uri.chunk.start = offset;
        coyote.uri.chunk.end = offset + raw.length;
        coyote.uri.type = MessageBytes.T_BYTES;
    }

    public Object getRequest() {
        return facade;
    }

    public MappingData getMappingData() {
        return mapping;
    }

    public Coyote getCoyoteRequest() {
        return coyote;
    }

    public String getRequestURI() {
        decoded++;
        ByteChunk c = coyote.uri.chunk;
        return new String(c.buffer, c.start, c.end - c.start, c.getCharset());
    }

    /** Like Tomcat's {@code MappingMatch}. */
    public enum Match { CONTEXT_ROOT, DEFAULT, EXACT, EXTENSION, PATH }

    public static class MappingData {
        public Match matchType;
    }

    public static class Coyote {
        final MessageBytes uri = new MessageBytes();

        public MessageBytes requestURI() {
            return uri;
        }
    }

    public static class MessageBytes {
        public static final int T_STR = 1;
        public static final int T_BYTES = 2;
        int type;
        final ByteChunk chunk = new ByteChunk();

        public int getType() {
            return type;
        }

        public ByteChunk getByteChunk() {
            return chunk;
        }
    }

    public static class ByteChunk {
        byte[] buffer = new byte[0];
        int start;
        int end;

        public byte[] getBuffer() {
            return buffer;
        }

        public int getStart() {
            return start;
        }

        public int getEnd() {
            return end;
        }

        public Charset getCharset() {
            return StandardCharsets.UTF_8;
        }
    }
}
