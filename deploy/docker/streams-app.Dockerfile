# The streams app: validate, render with the chat template, tokenize, label.
# Build from the repository root after `./mvnw -B package -DskipTests`:
#   docker build -f deploy/docker/streams-app.Dockerfile -t continual-sft/streams-app .
FROM eclipse-temurin:21-jre
RUN useradd --system --uid 10001 --home-dir /opt/sft sft
WORKDIR /opt/sft
COPY streams-app/target/streams-app.jar /opt/sft/streams-app.jar
# The model directory (tokenizer.json, tokenizer_config.json with the chat template) is mounted
# at /models/base; Kafka Streams keeps its state under /var/lib/sft/streams.
RUN mkdir -p /var/lib/sft/streams /var/cache/djl && chown sft /var/lib/sft/streams /var/cache/djl
USER sft
ENV DJL_CACHE_DIR=/var/cache/djl \
    JAVA_TOOL_OPTIONS="-XX:MaxRAMPercentage=60 --enable-native-access=ALL-UNNAMED -Dai.djl.offline=true"
EXPOSE 9400
ENTRYPOINT ["java", "-jar", "/opt/sft/streams-app.jar"]
CMD ["run", "--config", "/etc/sft/streams.properties"]
