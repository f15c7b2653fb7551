package io.continualsft.trainer.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.continualsft.trainer.model.Batch;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The pieces of {@link Kto} that are arithmetic: pairs, the KL estimate, loss, gradient. */
class KtoTest {
  static final Kto.Settings S = new Kto.Settings(0.1, 1.0, 1.5);

  @Test
  void theKlPairsArePromptIWithTheCompletionOfIMinusOneAsTrlRotatesThem() {
    List<Kto.Example> examples = List.of(new Kto.Example(new int[] {1}, new int[] {11}, true),
        new Kto.Example(new int[] {2, 2}, new int[] {12}, false),
        new Kto.Example(new int[] {3}, new int[] {13, 13}, true));
    List<Batch.Example> pairs = Kto.mismatched(examples);
    assertThat(pairs.get(0).ids()).containsExactly(1, 13, 13);
    assertThat(pairs.get(0).labels()).containsExactly(-100, 13, 13);
    assertThat(pairs.get(1).ids()).containsExactly(2, 2, 11);
    assertThat(pairs.get(1).labels()).containsExactly(-100, -100, 11);
    assertThat(pairs.get(2).ids()).containsExactly(3, 12);
  }

  @Test
  void theKlEstimateIsTheMeanMismatchedLogRatioAndNeverNegative() {
    assertThat(Kto.kl(new double[] {-1, -3}, new double[] {-2, -2})).isEqualTo(0.0);
    assertThat(Kto.kl(new double[] {-1, -1}, new double[] {-2, -3})).isEqualTo(1.5);
    assertThat(Kto.kl(new double[] {-3, -3}, new double[] {-2, -2})).isEqualTo(0.0);
  }

  @Test
  void theLossIsHalfTheWeightAtTheReferencePointAndItsGradientIsTheLossesDerivative() {
    assertThat(Kto.loss(S, true, 2.0, 2.0)).isEqualTo(0.5);
    assertThat(Kto.loss(S, false, 2.0, 2.0)).isEqualTo(0.75);
    for (boolean desirable : new boolean[] {true, false}) {
      for (double logratio : new double[] {-30, -1, 0, 0.5, 12}) {
        double h = 1e-5;
        double numeric = (Kto.loss(S, desirable, logratio + h, 1.0)
            - Kto.loss(S, desirable, logratio - h, 1.0)) / (2 * h);
        assertThat(Kto.gradient(S, desirable, logratio, 1.0))
            .isCloseTo(numeric, org.assertj.core.data.Offset.offset(1e-9));
      }
    }
    assertThat(Kto.gradient(S, true, 0, 0)).as("raising a desirable completion lowers the loss")
        .isNegative();
    assertThat(Kto.gradient(S, false, 0, 0)).isPositive();
  }

  @Test
  void rewardAccuracyCountsWhichSideOfTheReferencePointEachRatingFallsAndATieAsHalf() {
    Kto.Scores base = new Kto.Scores(0.5, 0, new double[] {-5, -6}, new double[] {-5, -6},
        new boolean[] {true, false}, 0.1);
    assertThat(base.rewardAccuracy()).isEqualTo(0.5);
    Kto.Scores learned = new Kto.Scores(0.4, 0, new double[] {-4, -7, -3}, new double[] {-5, -6,
        -4}, new boolean[] {true, false, false}, 0.1);
    assertThat(learned.reward(0)).isCloseTo(0.1, org.assertj.core.data.Offset.offset(1e-12));
    assertThat(learned.rewardAccuracy()).isEqualTo(2.0 / 3);
    Kto.Scores everythingUp = new Kto.Scores(0.4, 1.5, new double[] {-3, -5}, new double[] {-5,
        -6}, new boolean[] {true, false}, 0.1);
    assertThat(everythingUp.rewardAccuracy())
        .as("the undesirable completion rose less than the reference point: right")
        .isEqualTo(1.0);
  }

  @Test
  void settingsAndExamplesAreChecked() {
    assertThatThrownBy(() -> new Kto.Settings(0, 1, 1)).hasMessageContaining("kto.beta");
    assertThatThrownBy(() -> new Kto.Settings(0.1, -1, 1))
        .hasMessageContaining("kto.desirable-weight");
    assertThatThrownBy(() -> new Kto.Example(new int[0], new int[] {1}, true))
        .hasMessageContaining("needs a prompt and a completion");
  }
}
