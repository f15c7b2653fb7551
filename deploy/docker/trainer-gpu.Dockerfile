# The trainer on an NVIDIA GPU. The CUDA build of libtorch is not on Maven Central, so this image
# brings libtorch 2.7.1+cu128 itself and points DJL at it with PYTORCH_LIBRARY_PATH (the cu128
# JNI binding ships inside pytorch-jni, already in lib/). Set `device=gpu` in trainer.properties.
# Build from the repository root after `./mvnw -B package -DskipTests`:
#   docker build -f deploy/docker/trainer-gpu.Dockerfile -t continual-sft/trainer:gpu .
ARG LIBTORCH_URL=https://download.pytorch.org/libtorch/cu128/libtorch-cxx11-abi-shared-with-deps-2.7.1%2Bcu128.zip

FROM ubuntu:24.04 AS libtorch
ARG LIBTORCH_URL
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl unzip \
    && curl -fsSL -o /tmp/libtorch.zip "${LIBTORCH_URL}" \
    && unzip -q /tmp/libtorch.zip -d /opt && rm /tmp/libtorch.zip

FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04
RUN apt-get update && apt-get install -y --no-install-recommends openjdk-21-jre-headless libgomp1 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /opt/sft sft
COPY --from=libtorch /opt/libtorch /opt/libtorch
WORKDIR /opt/sft
COPY trainer-service/target/trainer-service.jar /opt/sft/trainer-service.jar
COPY trainer-service/target/lib /opt/sft/lib
COPY tokenizers/qwen3 /opt/sft/tokenizers/qwen3
RUN mkdir -p /var/cache/djl && chown sft /var/cache/djl
USER sft
ENV PYTORCH_LIBRARY_PATH=/opt/libtorch/lib \
    PYTORCH_VERSION=2.7.1 \
    PYTORCH_FLAVOR=cu128 \
    DJL_CACHE_DIR=/var/cache/djl \
    JAVA_TOOL_OPTIONS="-XX:MaxRAMPercentage=75 --enable-native-access=ALL-UNNAMED -Dai.djl.offline=true"
EXPOSE 9401
ENTRYPOINT ["java", "-jar", "/opt/sft/trainer-service.jar"]
CMD ["run", "--config", "/etc/sft/trainer.properties"]
