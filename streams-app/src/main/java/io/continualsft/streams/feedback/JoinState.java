package io.continualsft.streams.feedback;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;

/**
 * What waits in the join for one conversation id: the conversation, once it has arrived, and the
 * feedback so far, each as the record it was read as (bytes and coordinates), so a dead letter
 * made from it later carries the original bytes, and an example names its conversation's offset.
 *
 * <p>Encoded by hand (a version byte, then fixed fields): it is internal state in a RocksDB store
 * and its changelog, never read by another program, and a registry round trip per state change
 * would buy nothing.
 *
 * @param conversation the conversation's record, or null while only feedback has arrived
 * @param feedback feedback records in arrival order
 * @param deadline when the window closes (epoch milliseconds, wall clock)
 */
public record JoinState(Parked conversation, List<Parked> feedback, long deadline) {
  private static final byte VERSION = 1;

  /** One input record as read. */
  public record Parked(String topic, int partition, long offset, long timestamp, byte[] key,
      byte[] value) {
    /** Its size in the encoding, to bound a state before it is written. */
    public long encodedBytes() {
      return 2 + 4L * topic.length() + 4 + 8 + 8 + 4 + (key == null ? 0 : key.length) + 4
          + (value == null ? 0 : value.length);
    }
  }

  public JoinState {
    feedback = List.copyOf(feedback);
  }

  public JoinState withConversation(Parked parked, long newDeadline) {
    return new JoinState(parked, feedback, newDeadline);
  }

  public JoinState withFeedback(Parked parked) {
    List<Parked> more = new ArrayList<>(feedback);
    more.add(parked);
    return new JoinState(conversation, more, deadline);
  }

  /** An upper bound of {@link #encode()}'s length. */
  public long encodedBytes() {
    long bytes = 1 + 8 + 1 + 4 + (conversation == null ? 0 : conversation.encodedBytes());
    for (Parked p : feedback) {
      bytes += p.encodedBytes();
    }
    return bytes;
  }

  public byte[] encode() {
    ByteArrayOutputStream buffer = new ByteArrayOutputStream((int) Math.min(encodedBytes(), 1 << 20));
    try (DataOutputStream out = new DataOutputStream(buffer)) {
      out.writeByte(VERSION);
      out.writeLong(deadline);
      out.writeBoolean(conversation != null);
      if (conversation != null) {
        write(out, conversation);
      }
      out.writeInt(feedback.size());
      for (Parked p : feedback) {
        write(out, p);
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return buffer.toByteArray();
  }

  public static JoinState decode(byte[] bytes) {
    try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(bytes))) {
      byte version = in.readByte();
      if (version != VERSION) {
        throw new IllegalStateException("join state version " + version + " is not "
            + VERSION + ": written by a newer streams app; roll it back or reset the app");
      }
      long deadline = in.readLong();
      Parked conversation = in.readBoolean() ? read(in) : null;
      int n = in.readInt();
      List<Parked> feedback = new ArrayList<>(n);
      for (int i = 0; i < n; i++) {
        feedback.add(read(in));
      }
      return new JoinState(conversation, feedback, deadline);
    } catch (IOException e) {
      throw new UncheckedIOException("a join state record does not decode", e);
    }
  }

  private static void write(DataOutputStream out, Parked p) throws IOException {
    out.writeUTF(p.topic());
    out.writeInt(p.partition());
    out.writeLong(p.offset());
    out.writeLong(p.timestamp());
    writeBytes(out, p.key());
    writeBytes(out, p.value());
  }

  private static Parked read(DataInputStream in) throws IOException {
    return new Parked(in.readUTF(), in.readInt(), in.readLong(), in.readLong(), readBytes(in),
        readBytes(in));
  }

  private static void writeBytes(DataOutputStream out, byte[] bytes) throws IOException {
    out.writeInt(bytes == null ? -1 : bytes.length);
    if (bytes != null) {
      out.write(bytes);
    }
  }

  private static byte[] readBytes(DataInputStream in) throws IOException {
    int n = in.readInt();
    return n < 0 ? null : in.readNBytes(n);
  }
}
