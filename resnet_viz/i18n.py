"""Every word the explorer shows, in English and in Korean (the seed document's language).

Static texts go to the browser through ``gr.I18n`` and follow its language; texts the server
writes (status line, banner, chart labels, table headers, messages) are picked with
:func:`language` from the request's Accept-Language header, from the same tables.
"""

from __future__ import annotations

from typing import Any, Mapping

__all__ = ["LANGUAGES", "STRINGS", "language", "tr", "chart_labels"]

LANGUAGES = ("en", "ko")

EN: dict[str, str] = {
    # page
    "title": "# resnet-viz: look inside a ResNet",
    "subtitle": (
        "Upload a photo and see what a pretrained ResNet predicts, what each stage **C1-C5** sees, and how "
        "every block adds its residual branch **F(x)** to its shortcut **x**: **H(x) = F(x) + x**."
    ),
    "image_label": "Photo (upload, webcam or paste)",
    "examples_label": "Examples (click one)",
    "arch_label": "Architecture",
    "arch_info": "ResNet-18/34: basic blocks (two 3x3 convs). ResNet-50/101/152: bottleneck blocks (1x1, 3x3, 1x1).",
    "status_label": "Status",
    "download_button": "Download this analysis (JSON + images)",
    "download_label": "Files",
    # predictions
    "tab_predictions": "Predictions",
    "predictions_label": "Top-5 classes",
    "crop_label": "What the network saw: the 224x224 centre crop",
    "predictions_help": (
        "The photo is resized so its short side is 232 px (256 for ResNet-18/34), the centre 224x224 is "
        "cut out and normalised with the ImageNet mean and standard deviation, exactly as the weights were trained."
    ),
    # stage features
    "tab_stages": "Stage features C1-C5",
    "stages_help": (
        "**C1** is the stem's output after the 3x3 max-pool (stride 4); **C2-C5** are the outputs of stages 2-5 "
        "(strides 4, 8, 16, 32). Each stage opens with a **convolution block** (1x1 projection shortcut) followed by "
        "**identity blocks**. Each tile is one channel's activation map: bright means strong."
    ),
    "stage_label": "Stage",
    "ranking_label": "Rank channels by",
    "rank_mean": "mean activation",
    "rank_gradcam": "Grad-CAM weight for the top-1 class",
    "tiles_label": "Channels shown",
    "grid_label": "Most active channels: click a tile to open it",
    "stage_info_label": "Stage",
    "channel_label": "Channel",
    "opacity_label": "Opacity",
    "channel_view_label": "The channel over the crop",
    # residual vs shortcut
    "tab_residual": "Residual vs shortcut",
    "residual_help": (
        "Every block computes **H(x) = F(x) + x**: the shortcut carries **x** unchanged (**identity block**) or "
        "through a 1x1 convolution + BN where width or resolution changes (**convolution block**), and the residual "
        "branch **F(x)** only has to add what is new.\n\n"
        "A ratio |F(x)| / |x| below 1 means the block refines rather than replaces its input. The gradient through "
        "a block is **F'(x) + 1**: the shortcut's **+1** always carries the signal back."
    ),
    "residual_plot_label": "|F(x)| and |x| across depth",
    # attributions
    "tab_attributions": "Attributions",
    "attributions_help": (
        "Which pixels drove the score of the target class, computed with Captum. Grad-CAM weighs a stage's "
        "channels by their average gradient; the ladder shows it at C2, C3, C4 and C5 side by side. "
        "Integrated Gradients, SmoothGrad and occlusion evaluate many images and take a few seconds."
    ),
    "method_label": "Method",
    "target_label": "Target class (type to search all 1000)",
    "attr_stage_label": "Stage for Grad-CAM",
    "explain_button": "Explain",
    "heatmap_label": "Attribution over the crop",
    "ladder_label": "Grad-CAM ladder C2 -> C5",
    "attribution_info_label": "Details",
    # residual-learning lab
    "tab_lab": "Residual-learning lab",
    "lab_help": (
        "**Gradient flow**: the gradient of the target logit reaching each block's input, through the shortcut and "
        "through F(x), next to a *plain twin* with the same weights and no shortcuts (each block outputs ReLU(F(x))). "
        "**Lesions** (Veit et al. 2016): remove one block's residual branch at a time and watch the prediction."
    ),
    "flow_button": "Measure gradient flow",
    "flow_plot_label": "Gradient flow (log scale)",
    "lesion_button": "Run the lesion sweep",
    "lesion_plot_label": "Lesion sweep",
    "scales_help": "Scale every residual branch of a stage: 1 = intact, 0 = removed (the block passes its shortcut on).",
    "scale_label": "Residual branches of",
    "scaled_top5_label": "Top-5 with the branches scaled",
    # architecture
    "tab_architecture": "Architecture",
    "architecture_help": (
        "The paper's table (He et al. 2016, Table 1), computed from the loaded model: output size, blocks, "
        "channels, parameters, GFLOPs (multiply-adds) and receptive field per stage."
    ),
    # server-side texts
    "status": "{arch} · {weights} weights · {device} · last analysis {ms:.0f} ms",
    "status_idle": "{arch} · {weights} weights · {device}",
    "weights_imagenet": "ImageNet",
    "weights_random": "random",
    "banner_random": (
        "**Random weights: the predictions are meaningless.** The ImageNet weights for {arch} are not cached and "
        "could not be downloaded. Run `python -m resnet_viz download --arch {arch}` on a machine with internet "
        "(it saves them to {cache}), or start the app with `--weights PATH` to a checkpoint."
    ),
    "error_image": "This image cannot be analysed: {reason}",
    "error_first": "Analyse a photo first.",
    "error_session": "This page's session is not valid; reload the page.",
    "error_channel": "{stage} has channels 0-{last}; {channel} is not one of them.",
    "stage_info": (
        "**{stage}**: {channels} channels x {height} x {width}, stride {stride}, receptive field {rf} px, "
        "{zeros:.0f}% zeros after the ReLU"
    ),
    "attribution_info": "**{method}** for **{label}** (p = {probability:.3f}) · raw range [{lo:.3g}, {hi:.3g}] · {ms:.0f} ms",
    "attribution_delta": " · IG convergence delta {delta:.3g} of f(x) - f(baseline) = {difference:.3g}",
    "lesion_kl": "KL divergence from the intact prediction: {kl:.4f}",
    "top1": "top-1 prediction",
    "col_stage": "stage",
    "col_layer": "layer",
    "col_output": "output size",
    "col_blocks": "blocks",
    "col_block": "block",
    "col_channels": "channels",
    "col_params": "parameters",
    "col_gflops": "GFLOPs",
    "col_rf": "receptive field",
    "total": "total",
    # chart labels (see resnet_viz.charts.DEFAULT_LABELS)
    "chart_depth": "residual block (input side left)",
    "chart_identity": "identity block",
    "chart_convolution": "convolution block (projection shortcut)",
    "chart_residual_title": "Residual branch F(x) vs shortcut x across depth",
    "chart_residual_rms": "|F(x)|  residual branch (RMS)",
    "chart_shortcut_rms": "|x|  shortcut (RMS)",
    "chart_ratio": "|F(x)| / |x|",
    "chart_rms_axis": "RMS activation",
    "chart_ratio_axis": "ratio |F(x)| / |x|",
    "chart_gradient_title": "Gradient flow: gradient reaching each block's input",
    "chart_grad_input": "ResNet: gradient at block input",
    "chart_plain_grad_input": "plain twin (no shortcuts)",
    "chart_grad_shortcut": "part through the shortcut",
    "chart_grad_residual": "part through the residual branch",
    "chart_grad_axis": "gradient RMS (log scale)",
    "chart_floor_note": "zeros drawn at {floor:.1e} (log scale)",
    "chart_lesion_title": "Lesions: one block removed at a time",
    "chart_kl": "KL divergence (intact || lesioned)",
    "chart_kl_axis": "KL divergence (nats)",
    "chart_intact_probability": "probability of the intact top-1 class",
    "chart_probability_axis": "probability",
    "chart_top1_changed": "top-1 class changed",
}

KO: dict[str, str] = {
    "title": "# resnet-viz: ResNet 들여다보기",
    "subtitle": (
        "사진을 올리면 사전 학습된 ResNet이 무엇을 예측하는지, 각 스테이지 **C1-C5**가 무엇을 보는지, 그리고 "
        "각 블록이 지름길(shortcut) **x**에 잔차 <strong>F(x)</strong>를 어떻게 더하는지 보여 줍니다: **H(x) = F(x) + x**."
    ),
    "image_label": "사진 (업로드, 웹캠, 붙여넣기)",
    "examples_label": "예시 (하나를 누르세요)",
    "arch_label": "아키텍처",
    "arch_info": "ResNet-18/34: 기본 블록(3x3 합성곱 두 개). ResNet-50/101/152: 병목 블록(1x1, 3x3, 1x1).",
    "status_label": "상태",
    "download_button": "이 분석 내려받기 (JSON + 이미지)",
    "download_label": "파일",
    "tab_predictions": "예측",
    "predictions_label": "상위 5개 클래스",
    "crop_label": "네트워크가 본 이미지: 224x224 중앙 크롭",
    "predictions_help": (
        "사진의 짧은 변을 232 px(ResNet-18/34는 256 px)로 맞춘 뒤 가운데 224x224를 잘라 ImageNet 평균과 "
        "표준편차로 정규화합니다. 가중치를 학습할 때와 똑같은 전처리입니다."
    ),
    "tab_stages": "스테이지 특징 C1-C5",
    "stages_help": (
        "**C1**은 3x3 max-pool을 지난 stem의 출력(stride 4)이고, **C2-C5**는 스테이지 2-5의 출력(stride 4, 8, 16, 32)입니다. "
        "각 스테이지는 **convolution block**(1x1 투영 지름길)으로 시작하고 **identity block**이 뒤따릅니다. "
        "타일 하나가 채널 하나의 활성 맵이며, 밝을수록 강하게 반응한 곳입니다."
    ),
    "stage_label": "스테이지",
    "ranking_label": "채널 정렬 기준",
    "rank_mean": "평균 활성값",
    "rank_gradcam": "최상위 클래스에 대한 Grad-CAM 가중치",
    "tiles_label": "표시할 채널 수",
    "grid_label": "가장 강하게 활성화된 채널: 타일을 누르면 크게 보입니다",
    "stage_info_label": "스테이지",
    "channel_label": "채널",
    "opacity_label": "불투명도",
    "channel_view_label": "크롭 위에 겹친 채널",
    "tab_residual": "잔차 vs 지름길",
    "residual_help": (
        "모든 블록은 **H(x) = F(x) + x**를 계산합니다. 지름길은 **x**를 그대로 전달하거나(**identity block**), "
        "폭이나 해상도가 바뀌는 곳에서는 1x1 합성곱 + BN을 거쳐 전달하고(**convolution block**), 잔차 가지 "
        "<strong>F(x)</strong>는 새로운 것만 더하면 됩니다.\n\n"
        "|F(x)| / |x| 비율이 1보다 작으면 블록이 입력을 바꾸기보다 다듬는다는 뜻입니다. 블록을 지나는 기울기는 "
        "**F'(x) + 1**이므로, 지름길의 **+1**이 언제나 신호를 뒤로 전달합니다."
    ),
    "residual_plot_label": "깊이에 따른 |F(x)|와 |x|",
    "tab_attributions": "기여도(Attribution)",
    "attributions_help": (
        "어떤 픽셀이 대상 클래스의 점수를 이끌었는지 Captum으로 계산합니다. Grad-CAM은 스테이지의 채널을 평균 "
        "기울기로 가중합하며, 사다리는 C2, C3, C4, C5의 결과를 나란히 보여 줍니다. Integrated Gradients, "
        "SmoothGrad, occlusion은 많은 이미지를 평가하므로 몇 초 걸립니다."
    ),
    "method_label": "방법",
    "target_label": "대상 클래스 (1000개 중에서 검색)",
    "attr_stage_label": "Grad-CAM 스테이지",
    "explain_button": "설명하기",
    "heatmap_label": "크롭 위의 기여도",
    "ladder_label": "Grad-CAM 사다리 C2 -> C5",
    "attribution_info_label": "세부 정보",
    "tab_lab": "잔차 학습 실험실",
    "lab_help": (
        "**기울기 흐름**: 대상 로짓의 기울기가 각 블록의 입력에 지름길과 F(x)를 통해 얼마나 도달하는지, 같은 "
        "가중치에 지름길만 없앤 *plain 쌍둥이*(각 블록이 ReLU(F(x))를 출력)와 비교합니다. "
        "**블록 제거**(Veit et al. 2016): 블록의 잔차 가지를 하나씩 없애며 예측이 어떻게 바뀌는지 봅니다."
    ),
    "flow_button": "기울기 흐름 측정",
    "flow_plot_label": "기울기 흐름 (로그 스케일)",
    "lesion_button": "블록 제거 실험 실행",
    "lesion_plot_label": "블록 제거 결과",
    "scales_help": "스테이지의 모든 잔차 가지에 곱할 값: 1 = 그대로, 0 = 제거(블록이 지름길만 전달).",
    "scale_label": "잔차 가지 배율:",
    "scaled_top5_label": "잔차 가지를 조절한 상위 5개",
    "tab_architecture": "아키텍처",
    "architecture_help": (
        "논문의 표(He et al. 2016, 표 1)를 불러온 모델에서 직접 계산했습니다: 스테이지별 출력 크기, 블록 수, "
        "채널, 파라미터, GFLOPs(곱셈-덧셈), 수용 영역."
    ),
    "status": "{arch} · {weights} 가중치 · {device} · 마지막 분석 {ms:.0f} ms",
    "status_idle": "{arch} · {weights} 가중치 · {device}",
    "weights_imagenet": "ImageNet",
    "weights_random": "무작위",
    "banner_random": (
        "**무작위 가중치: 예측은 의미가 없습니다.** {arch}의 ImageNet 가중치가 캐시에 없고 내려받을 수도 "
        "없었습니다. 인터넷이 되는 컴퓨터에서 `python -m resnet_viz download --arch {arch}`를 실행하거나"
        "({cache}에 저장됩니다), `--weights PATH`로 체크포인트를 지정해 앱을 시작하세요."
    ),
    "error_image": "이 이미지는 분석할 수 없습니다: {reason}",
    "error_first": "먼저 사진을 분석하세요.",
    "error_session": "이 페이지의 세션이 올바르지 않습니다. 페이지를 새로 고치세요.",
    "error_channel": "{stage}의 채널은 0-{last}입니다. {channel}번 채널은 없습니다.",
    "stage_info": (
        "**{stage}**: 채널 {channels}개 x {height} x {width}, stride {stride}, 수용 영역 {rf} px, "
        "ReLU 뒤 0인 값 {zeros:.0f}%"
    ),
    "attribution_info": "**{label}**에 대한 **{method}** (p = {probability:.3f}) · 원래 범위 [{lo:.3g}, {hi:.3g}] · {ms:.0f} ms",
    "attribution_delta": " · IG 수렴 오차 {delta:.3g} (f(x) - f(기준) = {difference:.3g})",
    "lesion_kl": "원래 예측과의 KL 발산: {kl:.4f}",
    "top1": "최상위 예측",
    "col_stage": "스테이지",
    "col_layer": "층",
    "col_output": "출력 크기",
    "col_blocks": "블록 수",
    "col_block": "블록",
    "col_channels": "채널",
    "col_params": "파라미터",
    "col_gflops": "GFLOPs",
    "col_rf": "수용 영역",
    "total": "합계",
    "chart_depth": "잔차 블록 (왼쪽이 입력 쪽)",
    "chart_identity": "identity block",
    "chart_convolution": "convolution block (투영 지름길)",
    "chart_residual_title": "깊이에 따른 잔차 가지 F(x)와 지름길 x",
    "chart_residual_rms": "|F(x)|  잔차 가지 (RMS)",
    "chart_shortcut_rms": "|x|  지름길 (RMS)",
    "chart_ratio": "|F(x)| / |x|",
    "chart_rms_axis": "활성값 RMS",
    "chart_ratio_axis": "비율 |F(x)| / |x|",
    "chart_gradient_title": "기울기 흐름: 각 블록의 입력에 도달하는 기울기",
    "chart_grad_input": "ResNet: 블록 입력의 기울기",
    "chart_plain_grad_input": "plain 쌍둥이 (지름길 없음)",
    "chart_grad_shortcut": "지름길을 통한 부분",
    "chart_grad_residual": "잔차 가지를 통한 부분",
    "chart_grad_axis": "기울기 RMS (로그 스케일)",
    "chart_floor_note": "0은 {floor:.1e}에 표시 (로그 스케일)",
    "chart_lesion_title": "블록 제거: 한 번에 블록 하나씩",
    "chart_kl": "KL 발산 (원래 || 제거 후)",
    "chart_kl_axis": "KL 발산 (nats)",
    "chart_intact_probability": "원래 최상위 클래스의 확률",
    "chart_probability_axis": "확률",
    "chart_top1_changed": "최상위 클래스가 바뀜",
}

STRINGS: dict[str, dict[str, str]] = {"en": EN, "ko": KO}


def language(accept_language: str | None) -> str:
    """"ko" when the browser's Accept-Language prefers Korean over English, else "en"."""
    best, best_q = "en", -1.0
    for part in (accept_language or "").split(","):
        tag, _, params = part.strip().partition(";")
        code = tag.strip().lower().split("-")[0]
        try:
            q = float(params.strip()[2:]) if params.strip().startswith("q=") else 1.0
        except ValueError:
            q = 0.0
        if code in LANGUAGES and q > best_q:
            best, best_q = code, q
    return best


def tr(key: str, lang: str = "en", **values: Any) -> str:
    """The text for ``key`` in ``lang`` (English when missing), with ``values`` filled in."""
    text = STRINGS.get(lang, EN).get(key, EN[key])
    return text.format(**values) if values else text


def chart_labels(lang: str, hangul_available: bool) -> Mapping[str, str]:
    """Chart labels for ``lang``; English when no installed font can draw Hangul."""
    if lang == "ko" and not hangul_available:
        lang = "en"
    prefix = "chart_"
    return {key[len(prefix) :]: tr(key, lang) for key in EN if key.startswith(prefix)}
