package io.continualsft.schemas.registry;

import java.io.IOException;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Executors;
import java.util.concurrent.Flow;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * HTTP responses bounded in size and in time. The JDK client's request timeout covers the wait
 * for the response headers only, and its byte-array handler reads a body of any size; a registry
 * (or anything answering at its URL) that streams forever or sends gigabytes would hold a
 * service's thread or heap. Here a body over the limit is cancelled as soon as it passes it, and
 * a body still incomplete at the deadline is cancelled then.
 *
 * <p>The synchronous {@code send} is used on purpose: {@code sendAsync} completes its future on
 * the common fork-join pool, which a busy application (one worker on a two-core machine) can
 * leave without a free thread for as long as it likes.
 */
public final class BoundedBodies {
  private static final ScheduledExecutorService DEADLINES =
      Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "http-body-deadlines");
        t.setDaemon(true);
        return t;
      });

  private BoundedBodies() {}

  /**
   * Sends {@code request}: the headers within the request's own timeout, then the body within
   * {@code timeout} and {@code maxBytes}, else an {@link IOException} saying which bound it
   * passed ({@link HttpTimeoutException} for the deadline). Used by every client of a server the
   * project does not control: the schema registry, its token endpoint, vLLM.
   */
  public static HttpResponse<byte[]> send(HttpClient http, HttpRequest request, int maxBytes,
      Duration timeout) throws IOException {
    try {
      return http.send(request, info -> new Subscriber(maxBytes, timeout, request));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted waiting for " + request.uri(), e);
    }
  }

  /** Collects the body, failing once it passes {@code maxBytes} or its deadline. */
  private static final class Subscriber implements HttpResponse.BodySubscriber<byte[]> {
    private final int maxBytes;
    private final Duration timeout;
    private final HttpRequest request;
    private final CompletableFuture<byte[]> result = new CompletableFuture<>();
    private byte[] buffer = new byte[1024];
    private int size;
    private volatile Flow.Subscription subscription;
    private ScheduledFuture<?> deadline;

    Subscriber(int maxBytes, Duration timeout, HttpRequest request) {
      this.maxBytes = maxBytes;
      this.timeout = timeout;
      this.request = request;
    }

    @Override
    public CompletionStage<byte[]> getBody() {
      return result;
    }

    @Override
    public void onSubscribe(Flow.Subscription subscription) {
      this.subscription = subscription;
      deadline = DEADLINES.schedule(() -> fail(new HttpTimeoutException(
          "the response body from " + request.uri() + " was not complete within " + timeout)),
          timeout.toMillis(), TimeUnit.MILLISECONDS);
      subscription.request(Long.MAX_VALUE);
    }

    @Override
    public void onNext(List<ByteBuffer> items) {
      for (ByteBuffer item : items) {
        int n = item.remaining();
        if ((long) size + n > maxBytes) {
          fail(new IOException("the response body from " + request.uri()
              + " is over the limit of " + maxBytes + " bytes"));
          return;
        }
        if (size + n > buffer.length) {
          buffer = Arrays.copyOf(buffer, Math.max(size + n, buffer.length * 2));
        }
        item.get(buffer, size, n);
        size += n;
      }
    }

    private void fail(IOException e) {
      if (result.completeExceptionally(e)) {
        subscription.cancel();
      }
      if (deadline != null) {
        deadline.cancel(false);
      }
    }

    @Override
    public void onError(Throwable error) {
      deadline.cancel(false);
      result.completeExceptionally(error);
    }

    @Override
    public void onComplete() {
      deadline.cancel(false);
      result.complete(Arrays.copyOf(buffer, size));
    }
  }
}
