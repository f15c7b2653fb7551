package io.continualsft.schemas.registry;

import java.io.IOException;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Flow;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * HTTP responses bounded in size and in time. The JDK client's request timeout covers the wait
 * for the response headers only, and its byte-array handler reads a body of any size; a registry
 * (or anything answering at its URL) that streams forever or sends gigabytes would hold a
 * service's thread or heap. Here the whole exchange, body included, has a deadline, and a body
 * over the limit is cancelled as soon as it passes it.
 */
final class BoundedBodies {
  private BoundedBodies() {}

  static HttpResponse<byte[]> send(HttpClient http, HttpRequest request, int maxBytes,
      Duration timeout) throws IOException {
    CompletableFuture<HttpResponse<byte[]>> pending =
        http.sendAsync(request, info -> new Subscriber(maxBytes));
    try {
      // The request's own timeout covers the headers; allow as long again for the body.
      return pending.get(timeout.toMillis() * 2, TimeUnit.MILLISECONDS);
    } catch (TimeoutException e) {
      pending.cancel(true);
      throw new HttpTimeoutException("no complete response within " + timeout.multipliedBy(2)
          + " from " + request.uri());
    } catch (InterruptedException e) {
      pending.cancel(true);
      Thread.currentThread().interrupt();
      throw new IOException("interrupted waiting for " + request.uri(), e);
    } catch (ExecutionException e) {
      if (e.getCause() instanceof IOException io) {
        throw io;
      }
      throw new IOException(String.valueOf(e.getCause()), e.getCause());
    }
  }

  /** Collects the body, failing once it passes {@code maxBytes}. */
  private static final class Subscriber implements HttpResponse.BodySubscriber<byte[]> {
    private final int maxBytes;
    private final CompletableFuture<byte[]> result = new CompletableFuture<>();
    private byte[] buffer = new byte[1024];
    private int size;
    private Flow.Subscription subscription;

    Subscriber(int maxBytes) {
      this.maxBytes = maxBytes;
    }

    @Override
    public CompletionStage<byte[]> getBody() {
      return result;
    }

    @Override
    public void onSubscribe(Flow.Subscription subscription) {
      this.subscription = subscription;
      subscription.request(Long.MAX_VALUE);
    }

    @Override
    public void onNext(List<ByteBuffer> items) {
      for (ByteBuffer item : items) {
        int n = item.remaining();
        if ((long) size + n > maxBytes) {
          subscription.cancel();
          result.completeExceptionally(new IOException("the response body is over the limit of "
              + maxBytes + " bytes"));
          return;
        }
        if (size + n > buffer.length) {
          buffer = java.util.Arrays.copyOf(buffer, Math.max(size + n, buffer.length * 2));
        }
        item.get(buffer, size, n);
        size += n;
      }
    }

    @Override
    public void onError(Throwable error) {
      result.completeExceptionally(error);
    }

    @Override
    public void onComplete() {
      result.complete(java.util.Arrays.copyOf(buffer, size));
    }
  }
}
