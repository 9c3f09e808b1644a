package io.strom.compat.clients;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.common.requests.AbstractRequest;
import org.apache.kafka.common.requests.AbstractResponse;
import org.apache.kafka.common.requests.RequestHeader;

/**
 * One request on its own connection, encoded and decoded by kafka-clients 4.4.0's own protocol classes: for an API the
 * 4.4 AdminClient no longer sends (legacy AlterConfigs, removed from Admin in 4.0) but brokers still serve.
 */
final class RawWire {
    private RawWire() {}

    private static final AtomicInteger CORRELATION = new AtomicInteger(1);

    static AbstractResponse call(String bootstrap, AbstractRequest.Builder<?> builder, short version) throws Exception {
        String first = bootstrap.split(",")[0];
        int colon = first.lastIndexOf(':');
        AbstractRequest request = builder.build(version);
        RequestHeader header = new RequestHeader(request.apiKey(), version, "strom-compat-raw", CORRELATION.getAndIncrement());
        ByteBuffer payload = request.serializeWithHeader(header);
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(first.substring(0, colon), Integer.parseInt(first.substring(colon + 1))), 10000);
            s.setSoTimeout(20000);
            DataOutputStream out = new DataOutputStream(s.getOutputStream());
            byte[] bytes = new byte[payload.remaining()];
            payload.get(bytes);
            out.writeInt(bytes.length);
            out.write(bytes);
            out.flush();
            DataInputStream in = new DataInputStream(s.getInputStream());
            byte[] response = new byte[in.readInt()];
            in.readFully(response);
            return AbstractResponse.parseResponse(ByteBuffer.wrap(response), header);
        }
    }
}
