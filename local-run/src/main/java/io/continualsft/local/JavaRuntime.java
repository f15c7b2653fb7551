package io.continualsft.local;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.jar.JarFile;
import java.util.jar.Manifest;

/** The running JVM, as a template for child JVMs. */
public final class JavaRuntime {
  private JavaRuntime() {}

  /** The {@code java} executable of this JVM. */
  public static String javaExecutable() {
    return ProcessHandle.current().info().command()
        .orElseGet(() -> Path.of(System.getProperty("java.home"), "bin", "java").toString());
  }

  static int featureVersion() {
    return Runtime.version().feature();
  }

  /**
   * This JVM's class path with every entry spelled out. Test runners often start the JVM with one
   * "manifest-only" jar whose {@code Class-Path} attribute lists the real entries; a child given
   * that jar would depend on a temporary file, so it is expanded here.
   */
  public static String expandedClassPath() {
    List<String> entries = new ArrayList<>();
    // Inside a host that loads the project through its own class loader (Maven's exec:java, an
    // IDE runner), java.class.path is the host's; the loader's URLs are the project's.
    if (JavaRuntime.class.getClassLoader() instanceof java.net.URLClassLoader loader) {
      for (java.net.URL url : loader.getURLs()) {
        if (url.getProtocol().equals("file")) {
          try {
            entries.add(Path.of(url.toURI()).toString());
          } catch (java.net.URISyntaxException e) {
            throw new IllegalStateException("bad class path entry " + url, e);
          }
        }
      }
    }
    for (String entry : System.getProperty("java.class.path").split(File.pathSeparator)) {
      if (entry.isEmpty()) {
        continue;
      }
      entries.add(entry);
      entries.addAll(manifestClassPath(Path.of(entry)));
    }
    return String.join(File.pathSeparator, entries);
  }

  private static List<String> manifestClassPath(Path jar) {
    if (!jar.toString().endsWith(".jar") || !Files.isRegularFile(jar)) {
      return List.of();
    }
    try (JarFile file = new JarFile(jar.toFile())) {
      Manifest manifest = file.getManifest();
      String classPath =
          manifest == null ? null : manifest.getMainAttributes().getValue("Class-Path");
      if (classPath == null || classPath.isBlank()) {
        return List.of();
      }
      List<String> out = new ArrayList<>();
      for (String url : classPath.trim().split("\\s+")) {
        URI uri = jar.toUri().resolve(url);
        out.add(Path.of(uri).toString());
      }
      return out;
    } catch (IOException e) {
      throw new UncheckedIOException("could not read the manifest of " + jar, e);
    }
  }
}
