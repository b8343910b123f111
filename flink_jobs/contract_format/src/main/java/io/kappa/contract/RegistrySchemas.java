package io.kappa.contract;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;

import org.apache.avro.Schema;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

/**
 * Writer schemas by id, from the platform's schema registry (the Confluent API, on its socket in the
 * private state directory), each fetched once. An id the registry does not know is remembered for a
 * minute, so that a flood of records with a made-up id does not become a flood of lookups.
 */
final class RegistrySchemas {
    private static final String PATH = "/apis/ccompat/v7/schemas/ids/";
    private static final long UNKNOWN_FOR_MS = 60_000;
    private static final int ATTEMPTS = 5;
    private static final ObjectMapper JSON = new ObjectMapper();

    /** A schema id's outcome: the Avro schema, or why there is none. */
    static final class Lookup {
        final Schema schema;
        final String problem;

        private Lookup(Schema schema, String problem) {
            this.schema = schema;
            this.problem = problem;
        }
    }

    private final Path socket;
    private final Map<Integer, Lookup> known = new HashMap<>();
    private final Map<Integer, Long> unknownSince = new HashMap<>();

    RegistrySchemas(String socket) {
        this.socket = Path.of(socket);
    }

    /** The schema with this id; an IOException only when the registry cannot be reached at all (the
     *  task fails and restarts from its checkpoint: nothing is lost, nothing is quarantined for it). */
    Lookup get(int id) throws IOException {
        Lookup hit = known.get(id);
        if (hit != null) {
            return hit;
        }
        Long since = unknownSince.get(id);
        if (since != null && System.currentTimeMillis() - since < UNKNOWN_FOR_MS) {
            return new Lookup(null, "unknown schema id " + id);
        }
        String[] answer = fetch(PATH + id);
        int status = Integer.parseInt(answer[0]);
        if (status == 404) {
            unknownSince.put(id, System.currentTimeMillis());
            return new Lookup(null, "unknown schema id " + id);
        }
        if (status != 200) {
            throw new IOException("the schema registry answered HTTP " + status + " for schema id " + id);
        }
        JsonNode body = JSON.readTree(answer[1]);
        String type = body.path("schemaType").asText("AVRO");
        Lookup found;
        if (!"AVRO".equals(type)) {
            found = new Lookup(null, "schema id " + id + " is " + type + ", not Avro");
        } else {
            try {
                Schema schema = new Schema.Parser().parse(body.path("schema").asText());
                found = schema.getType() == Schema.Type.RECORD ? new Lookup(schema, null)
                        : new Lookup(null, "schema id " + id + " is not an Avro record");
            } catch (RuntimeException unreadable) {
                found = new Lookup(null, "schema id " + id + " is not a schema the job can read");
            }
        }
        known.put(id, found);
        return found;
    }

    /** GET over the socket, HTTP/1.0 (no chunking, the server closes): {status, body}. Retried a few
     *  times over about ten seconds (a registry restarting). */
    private String[] fetch(String path) throws IOException {
        IOException last = null;
        for (int attempt = 0; attempt < ATTEMPTS; attempt++) {
            if (attempt > 0) {
                try {
                    Thread.sleep(2000);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IOException("interrupted while waiting for the schema registry", e);
                }
            }
            try (SocketChannel channel = SocketChannel.open(StandardProtocolFamily.UNIX)) {
                channel.connect(UnixDomainSocketAddress.of(socket));
                ByteBuffer request = ByteBuffer.wrap(("GET " + path + " HTTP/1.0\r\nHost: localhost\r\n"
                        + "Accept: application/json\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
                while (request.hasRemaining()) {
                    channel.write(request);
                }
                ByteArrayOutputStream response = new ByteArrayOutputStream();
                ByteBuffer buffer = ByteBuffer.allocate(8192);
                while (channel.read(buffer) >= 0) {
                    buffer.flip();
                    response.write(buffer.array(), 0, buffer.limit());
                    buffer.clear();
                }
                String text = response.toString(StandardCharsets.UTF_8);
                int split = text.indexOf("\r\n\r\n");
                String[] statusLine = text.substring(0, Math.max(split, 0)).split(" ", 3);
                if (split < 0 || statusLine.length < 2) {
                    throw new IOException("an unreadable answer from the schema registry");
                }
                return new String[] {statusLine[1], text.substring(split + 4)};
            } catch (IOException e) {
                last = e;
            }
        }
        throw new IOException("the schema registry is not reachable on " + socket, last);
    }
}
