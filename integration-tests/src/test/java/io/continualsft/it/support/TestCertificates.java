package io.continualsft.it.support;

import io.continualsft.local.ChildProcess;
import io.continualsft.local.JavaRuntime;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * A certificate authority and a server certificate for 127.0.0.1/localhost, made with the JDK's
 * own {@code keytool} for a test: PKCS12 stores, EC P-256 keys, one password for everything.
 *
 * @param serverKeystore the server's key and its certificate chain (server, then CA)
 * @param clientKeystore a client's key and certificate, signed by the same CA (mutual TLS)
 * @param truststore the CA's certificate alone
 * @param caCertificate the CA's certificate, PEM
 */
public record TestCertificates(Path serverKeystore, Path clientKeystore, Path truststore,
    Path caCertificate, String password) {

  public static TestCertificates create(Path dir) throws Exception {
    Files.createDirectories(dir);
    String pw = "test-" + Long.toHexString(System.nanoTime());
    Path ca = dir.resolve("ca.p12");
    Path caPem = dir.resolve("ca.pem");
    Path truststore = dir.resolve("truststore.p12");
    keytool(dir, "-genkeypair", "-alias", "ca", "-keyalg", "EC", "-groupname", "secp256r1",
        "-dname", "CN=continual-sft test CA", "-ext", "bc:c", "-validity", "2",
        "-keystore", ca.toString(), "-storetype", "PKCS12", "-storepass", pw, "-keypass", pw);
    keytool(dir, "-exportcert", "-rfc", "-alias", "ca", "-keystore", ca.toString(),
        "-storepass", pw, "-file", caPem.toString());
    keytool(dir, "-importcert", "-noprompt", "-alias", "ca", "-file", caPem.toString(),
        "-keystore", truststore.toString(), "-storetype", "PKCS12", "-storepass", pw);
    Path server = signed(dir, "server", "CN=localhost", "SAN=ip:127.0.0.1,dns:localhost", ca,
        caPem, pw);
    Path client = signed(dir, "client", "CN=sft-client", null, ca, caPem, pw);
    return new TestCertificates(server, client, truststore, caPem, pw);
  }

  /** A key store holding {@code name}'s key with a certificate the CA signed, chain included. */
  private static Path signed(Path dir, String name, String dname, String san, Path ca,
      Path caPem, String pw) throws Exception {
    Path store = dir.resolve(name + ".p12");
    Path csr = dir.resolve(name + ".csr");
    Path crt = dir.resolve(name + ".pem");
    keytool(dir, "-genkeypair", "-alias", name, "-keyalg", "EC", "-groupname", "secp256r1",
        "-dname", dname, "-validity", "2", "-keystore", store.toString(), "-storetype", "PKCS12",
        "-storepass", pw, "-keypass", pw);
    keytool(dir, "-certreq", "-alias", name, "-keystore", store.toString(), "-storepass", pw,
        "-file", csr.toString());
    List<String> gencert = new ArrayList<>(List.of("-gencert", "-alias", "ca", "-keystore",
        ca.toString(), "-storepass", pw, "-infile", csr.toString(), "-outfile", crt.toString(),
        "-rfc", "-validity", "2"));
    if (san != null) {
      gencert.addAll(List.of("-ext", san));
    }
    keytool(dir, gencert.toArray(String[]::new));
    keytool(dir, "-importcert", "-noprompt", "-alias", "ca", "-file", caPem.toString(),
        "-keystore", store.toString(), "-storepass", pw);
    keytool(dir, "-importcert", "-alias", name, "-file", crt.toString(), "-keystore",
        store.toString(), "-storepass", pw, "-keypass", pw);
    return store;
  }

  private static void keytool(Path dir, String... args) {
    Path java = Path.of(JavaRuntime.javaExecutable());
    List<String> command = new ArrayList<>();
    command.add(java.resolveSibling("keytool").toString());
    command.addAll(List.of(args));
    ChildProcess.run("keytool", command, dir, dir.resolve("keytool.log"), Duration.ofSeconds(60));
  }
}
