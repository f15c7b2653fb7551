# The trainer on CPU: libtorch 2.7.1 comes from the pytorch-native-cpu jar in lib/, unpacked on
# first start into DJL_CACHE_DIR (keep it on a volume to skip the 7-9 s unpack on restarts).
# Build from the repository root after `./mvnw -B package -DskipTests`:
#   docker build -f deploy/docker/trainer.Dockerfile -t continual-sft/trainer .
FROM eclipse-temurin:21-jre
RUN apt-get update && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /opt/sft sft
WORKDIR /opt/sft
COPY trainer-service/target/trainer-service.jar /opt/sft/trainer-service.jar
COPY trainer-service/target/lib /opt/sft/lib
# The project's bundled tokenizer (Apache-2.0, LICENSE included), for `init-model` demos.
COPY tokenizers/qwen3 /opt/sft/tokenizers/qwen3
RUN mkdir -p /var/cache/djl && chown sft /var/cache/djl
USER sft
ENV DJL_CACHE_DIR=/var/cache/djl \
    MKL_CBWR=AUTO \
    JAVA_TOOL_OPTIONS="-XX:MaxRAMPercentage=25 --enable-native-access=ALL-UNNAMED -Dai.djl.offline=true"
EXPOSE 9401
ENTRYPOINT ["java", "-jar", "/opt/sft/trainer-service.jar"]
CMD ["run", "--config", "/etc/sft/trainer.properties"]
