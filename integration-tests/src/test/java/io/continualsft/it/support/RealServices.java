package io.continualsft.it.support;

import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * A test class that needs the real broker and the real registry: its methods may take {@link
 * KafkaCluster} and {@link SchemaRegistry} parameters.
 */
@Target(ElementType.TYPE)
@Retention(RetentionPolicy.RUNTIME)
@ExtendWith({KafkaClusterExtension.class, SchemaRegistryExtension.class})
public @interface RealServices {}
