package io.continualsft.trainer;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import org.junit.jupiter.api.Test;

/**
 * The trainer's packages form a graph without cycles, layered as its README draws it: the model
 * knows nothing of LoRA, settings nothing of training, and nothing below the service knows the
 * service or the commands.
 */
class PackageGraphTest {
  private static final JavaClasses CLASSES = new ClassFileImporter()
      .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
      .importPackages("io.continualsft.trainer");

  @Test
  void thePackagesHaveNoCycle() {
    slices().matching("io.continualsft.trainer.(*)..").should().beFreeOfCycles()
        .check(CLASSES);
  }

  @Test
  void theModelKnowsNothingOfLoraAndTheSettingsNothingOfTraining() {
    noClasses().that().resideInAPackage("..trainer.model..").should().dependOnClassesThat()
        .resideInAnyPackage("..trainer.lora..", "..trainer.train..", "..trainer.config..")
        .check(CLASSES);
    noClasses().that().resideInAPackage("..trainer.config..").should().dependOnClassesThat()
        .resideInAnyPackage("..trainer.train..", "..trainer.service..", "..trainer.model..")
        .check(CLASSES);
  }

  @Test
  void onlyTheCommandsKnowTheService() {
    noClasses().that().resideOutsideOfPackages("..trainer.cli..", "..trainer.service..")
        .should().dependOnClassesThat().resideInAnyPackage("..trainer.service..", "..trainer.cli..")
        .check(CLASSES);
  }
}
