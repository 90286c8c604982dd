"""KCM distillation loss: zero KL when teacher equals student, masks by confidence, pulls the student."""

import pytest
import torch
import torch.nn.functional as F

from kcm.distill import DistillWeights, kcm_loss


def test_kl_terms_vanish_when_the_teachers_equal_the_student():
    logits = torch.randn(32, 5) * 4
    weights = DistillWeights(temperature=1.0, eps=0.0)  # every teacher counts as sure
    probs = torch.softmax(logits, dim=-1)
    labels = torch.randint(0, 5, (32,))
    total, parts = kcm_loss(logits, labels, probs, probs, weights)
    assert parts["l_ls"] == pytest.approx(0.0, abs=1e-6) and parts["l_js"] == pytest.approx(0.0, abs=1e-6)
    assert total.item() == pytest.approx(F.cross_entropy(logits, labels).item(), abs=1e-6)


def test_same_holds_at_any_temperature():
    logits = torch.randn(16, 3)
    probs = torch.softmax(logits, dim=-1)
    _, parts = kcm_loss(logits, torch.zeros(16, dtype=torch.long), probs, None, DistillWeights(temperature=3.0, eps=0.0))
    assert parts["l_ls"] == pytest.approx(0.0, abs=1e-5)


def test_only_confident_teacher_rows_count():
    student = torch.zeros(4, 2, requires_grad=True)
    labels = torch.zeros(4, dtype=torch.long)
    teacher = torch.tensor([[0.99, 0.01], [0.6, 0.4], [0.01, 0.99], [0.5, 0.5]])
    w = DistillWeights(lambda_ls=1.0, lambda_js=0.0, temperature=1.0, eps=0.98)
    _, parts = kcm_loss(student, labels, teacher, None, w)
    uniform = torch.tensor([0.5, 0.5])
    kl = lambda p: float((p * (p.log() - uniform.log())).sum())  # noqa: E731
    assert parts["l_ls"] == pytest.approx((kl(teacher[0]) + kl(teacher[2])) / 4, rel=1e-5)


def test_gradient_moves_the_student_toward_a_sure_teacher():
    student = torch.zeros(1, 3, requires_grad=True)
    teacher = torch.tensor([[0.001, 0.998, 0.001]])
    w = DistillWeights(lambda_ls=5.0, lambda_js=0.0, temperature=1.0, eps=0.98)
    total, _ = kcm_loss(student, torch.tensor([0]), teacher, None, w)
    total.backward()
    assert student.grad[0, 1] < 0  # descent raises the teacher's class


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="do not match"):
        kcm_loss(torch.zeros(2, 3), torch.zeros(2, dtype=torch.long), torch.full((2, 4), 0.25), None)


def test_large_term_counts_only_rows_the_large_model_was_asked():
    student = torch.zeros(4, 2)
    teacher = torch.tensor([[0.99, 0.01], [0.99, 0.01], [0.01, 0.99], [0.01, 0.99]])
    w = DistillWeights(lambda_ls=1.0, lambda_js=0.0, temperature=1.0, eps=0.5)
    asked = torch.tensor([True, False, False, True])
    _, everywhere = kcm_loss(student, torch.zeros(4, dtype=torch.long), teacher, None, w)
    _, routed = kcm_loss(student, torch.zeros(4, dtype=torch.long), teacher, None, w, large_asked=asked)
    assert routed["l_ls"] == pytest.approx(everywhere["l_ls"] / 2, rel=1e-6)


def test_hard_large_is_cross_entropy_on_the_teachers_argmax():
    student = torch.randn(6, 3)
    teacher = torch.softmax(torch.randn(6, 3) * 5, dim=-1)
    w = DistillWeights(lambda_ls=1.0, lambda_js=0.0, temperature=4.0, eps=0.0)
    _, parts = kcm_loss(student, torch.zeros(6, dtype=torch.long), teacher, None, w, hard_large=True)
    assert parts["l_ls"] == pytest.approx(F.cross_entropy(student, teacher.argmax(-1)).item(), rel=1e-6)
