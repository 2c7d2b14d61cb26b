"""Every word the explorer shows, in English and in Korean (the seed document's language).

Static texts go to the browser through ``gr.I18n`` and follow its language; texts the server
writes (status line, banner, chart labels, table headers, messages) are picked with
:func:`language` from the request's Accept-Language header, from the same tables.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

from .methods import METHOD_SPECS

if TYPE_CHECKING:
    from .preprocess import ImageError

__all__ = ["LANGUAGES", "STRINGS", "language", "tr", "chart_labels", "image_error"]

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
    # the degradation lab (a section of the residual-learning lab)
    "degr_heading": "### Degradation: plain vs residual networks, trained live",
    "degr_help": (
        "A plain network (no shortcuts: each block outputs ReLU(F(x))) and a ResNet (shortcut connections) of every "
        "chosen depth train side by side on the same batches, in their own process on this server, while the curves "
        "grow below. One run at a time: every visitor sees the same one."
    ),
    "degr_notice": (
        "**What to notice:** the deeper *plain* net (dashed) ends with a **higher training error** than the shallower "
        "one; that is not overfitting (it is the error on the very data it trains on), it is a failure to optimise. "
        "With shortcuts, **H(x) = F(x) + x**, each block only has to learn the residual F(x) and can pass x on as it "
        "is, so the deeper ResNet (solid) trains at least as well as the shallower one."
    ),
    "degr_depths_label": "Depths (6n + 2 layers)",
    "degr_data_label": "Data",
    "degr_data_offline": "offline gratings (no download)",
    "degr_data_cifar10": "CIFAR-10 (downloaded beforehand)",
    "degr_steps_label": "Training steps per network",
    "degr_start": "Start",
    "degr_plot_label": "Training error: plain vs ResNet",
    "degr_gradients_label": "Gradient at initialisation, per layer",
    "degr_preset_label": "Run",
    "degr_preset_default": "Default run",
    "degr_preset_deeper": "Deeper run: 56 layers",
    "degr_finding_default": (
        "**Default run: the paper's Fig. 6 in shape.** Both plain nets train, and the deeper one ends with the "
        "higher training error on every seed checked; the ResNet of the same depth ends at or below ResNet-20 (within "
        "the seed noise). In the paper (He et al. 2016; CIFAR-10, 64,000 steps of 128 images) plain-56 stays above "
        "plain-20 in training error all through training (Fig. 6, left), and the ResNets get better with depth: test "
        "error 8.75% for ResNet-20, 6.97% for ResNet-56 (Table 6). **What these offline gratings show, and what not:** "
        "a deeper plain net that leaves chance 100-700 steps after the shallower one and stays behind to the end. "
        "Not the paper's gain from depth: the 8x8 gratings are easy and every ResNet ends near 0%, so \"deeper is not "
        "worse\" is all a ResNet can show here; and no number here is a CIFAR-10 number."
    ),
    "degr_finding_deeper": (
        "**Deeper run (56 layers, longer): a stronger failure than the paper's.** On these gratings plain-56 "
        "barely learns: it ends at 75-90% training error (chance, with ten classes, is 90%; six fresh seeds), while "
        "plain-20 ends under 1% and ResNet-56, from the very same initial weights, under 1% too. In the paper's "
        "Fig. 6, plain-56 does train on CIFAR-10, only to a higher error than plain-20. The gradient chart beside "
        "the curves shows why it starts so late, if at all: at initialisation plain-56's first layer gets a "
        "gradient 800-2,800 times its last layer's (plain-20: 5-12 times; the ResNets: about 1), so no single "
        "learning rate suits both ends of the plain net."
    ),
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
    "attribution_info": (
        "**{method}**{where} for **{label}** (p = {probability:.3f}) · {arch} · raw range [{lo:.3g}, {hi:.3g}] · {ms:.0f} ms"
    ),
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
    # --- added with the per-tab page -----------------------------------------------------------
    "error_title": "Error",
    "status_idle_no_photo": "No photo: upload one or click an example.",
    "banner_random_chosen": (
        "**Random weights: the predictions are meaningless.** This server was started with `--weights random` "
        "for {arch}; start it with `--weights imagenet` (the default) to see what a trained ResNet predicts."
    ),
    "crop_sliver": (
        "**Note:** this photo is {width}x{height} px. Its short side is enlarged {scale:.1f}x and the 224x224 crop "
        "shows {shown:.0f}% of its long side: the network sees a stretched sliver, so the predictions say little "
        "about the photo."
    ),
    "grid_title_mean": "#### {stage}: the {n} most active channels ({arch}, ranked by mean activation)",
    "grid_title_gradcam": "#### {stage}: the {n} channels with the largest Grad-CAM weight for **{label}** ({arch})",
    "grid_hint": "Each tile is one channel, numbered #c; click a tile to open that channel below.",
    "channel_info": "Press Enter to show it",
    "channel_caption": (
        "**{stage}, channel {channel}** over the 224x224 crop ({arch}): yellow = strong activation, dark = none "
        "(largest value {peak:.3g})."
    ),
    "error_stage": "{stage} is not a stage of this network; choose one of {stages}.",
    "blocks_label": "Blocks: the design document's name, torchvision's name and the numbers in the chart",
    "col_block_seed": "block",
    "col_block_torchvision": "torchvision name",
    "col_kind": "kind",
    "col_residual": "|F(x)| (RMS)",
    "col_shortcut": "|x| (RMS)",
    "col_ratio": "|F(x)| / |x|",
    "kind_identity": "identity block",
    "kind_convolution": "convolution block",
    "target_info": "Type a class name (English ImageNet labels, e.g. tabby or golden retriever) and press Enter",
    "cancel_button": "Cancel",
    "error_target_hangul": (
        "Class names are the English ImageNet labels; '{query}' is not one. Type e.g. 'tabby' or 'golden retriever'."
    ),
    "error_target_ambiguous": "'{query}' fits several classes: {candidates}. Type the one you mean.",
    "error_target_unknown": "No ImageNet class is called '{query}'. Type e.g. 'tabby' or 'golden retriever'.",
    "ig_delta_small": "completeness error {share:.1f}% of f(x) - f(baseline): small, the map accounts for the score change",
    "ig_delta_moderate": "completeness error {share:.0f}% of f(x) - f(baseline): moderate, more steps would tighten it",
    "ig_delta_large": (
        "completeness error {share:.0f}% of f(x) - f(baseline): large, the map misses much of the score change "
        "(more steps, or real weights, help)"
    ),
    "at_stage": " at {stage}",
    "colours_unsigned": "colours: blue = no contribution, red = the strongest",
    "colours_signed": "colours: red = for the class, blue = against it, white = neither",
    "expected_fast": "{method} takes one forward and one backward pass: under a second.",
    "expected_slow": "{method} evaluates {n} images: about {seconds:.0f} s on this server. You can cancel it.",
    "expected_slow_unknown": "{method} evaluates {n} images: a few seconds. You can cancel it.",
    "computing": "Computing Grad-CAM for the new photo...",
    "press_explain": "Press **Explain** to compute {method} for this photo.",
    "slow_waiting": "{method}: waiting for the model",
    "cancelled": "{method} was cancelled.",
    "lesion_press": "Press **Run the lesion sweep** to remove each of the {blocks} blocks' residual branch in turn.",
    "lesion_done": "{blocks} lesions in {ms:.0f} ms: the top-1 class changed for {changed} of them.",
    "intact_top5_label": "Top-5 of the intact network",
    "readme_title": (
        "resnet-viz: {arch} with {weights} weights, on a {width}x{height} photo whose top-1 class is '{label}'."
    ),
    "file_analysis": "the analysis: top-5, C1-C5 statistics, |F(x)| and |x| per block (JSON)",
    "file_crop": "the 224x224 crop the network saw",
    "file_grid": "the feature grid of stage {stage} (one tile per channel)",
    "file_channel": "stage {stage}, channel {channel} over the crop",
    "file_heatmap": "the attribution map over the crop (method and target in attribution.json)",
    "file_attribution": "the attribution: method, target class, map values (JSON)",
    "file_ladder": "Grad-CAM at C2, C3, C4 and C5",
    "file_residual_chart": "|F(x)| vs |x| across depth (the Residual vs shortcut tab's chart)",
    "file_gradient_flow_chart": "gradient flow vs the plain twin (chart)",
    "file_gradient_flow": "gradient flow per block (JSON)",
    "file_lesion_chart": "the lesion sweep (chart)",
    "file_lesion": "the lesion sweep per block (JSON)",
    "file_scaled": "the top-5 with residual branches scaled (JSON)",
    "file_architecture": "the architecture table (CSV)",
    "featvis_heading": "#### What excites this channel most (feature visualisation)",
    "featvis_button": "Visualise this channel",
    "featvis_press": (
        "Press **Visualise this channel** to compute the image {stage} channel {channel} responds to most: {steps} steps "
        "from noise (Olah et al. 2017), about {seconds:.0f} s on this server. It is then kept for every visitor."
    ),
    "featvis_shown": (
        "The image **{stage} channel {channel}** of {arch} responds to most, after {steps} steps from noise: "
        "mean activation {activation:.3g}."
    ),
    "featvis_waiting": "Feature visualisation: waiting for the model",
    "featvis_progress": "Feature visualisation",
    "featvis_cancelled": "The visualisation of {stage} channel {channel} was cancelled.",
    "exemplars_heading": "#### Dataset patches that excite it most",
    "exemplars_none": (
        "No exemplar index is loaded. Build one from a folder of photos with "
        "`python -m resnet_viz index FOLDER --arch {arch} --out INDEX.npz` and start the app with `--index INDEX.npz`."
    ),
    "exemplars_mismatch": "The loaded exemplar index does not fit this model: {reason}",
    "exemplars_shown": "The {n} patches of {images} indexed images that excite **{stage} channel {channel}** most (score = its largest value).",
    # image rejection reasons (ImageError.code)
    "image_reason_empty": "the file is empty (0 bytes)",
    "image_reason_missing": "the file is gone; upload it again",
    "image_reason_bomb": "too many pixels for a safe decode",
    "image_reason_not_image": "not an image, or not a format Pillow can read",
    "image_reason_unreadable": "the file cannot be read",
    "image_reason_bad_array": "not an image array",
    "image_reason_too_many_pixels": "{width}x{height} pixels, more than the {limit:,}-pixel limit; downscale it first",
    "image_reason_no_pixels": "the image has no pixels ({width}x{height})",
    "image_reason_corrupt": "truncated or corrupt",
    # the degradation lab: status line, notes and chart words
    "degr_state_starting": "starting (loading torch and the data)",
    "degr_state_running": "running",
    "degr_state_finished": "finished",
    "degr_state_cancelled": "cancelled",
    "degr_state_failed": "failed",
    "degr_status": "Live run: **{state}** · step {step} of {steps} · {seconds:.0f} s",
    "degr_paused": "paused while the app's models compute",
    "degr_not_paused": "not paused (held {pauses} times so far while the app's models computed)",
    "degr_recorded": (
        "Recorded curves ({preset}): `{command}` on {machine}, {date} ({seconds:.0f} s) · final training error: "
        "{errors}. Press **Start** to train live."
    ),
    "degr_summary": "final training error: {errors}",
    "degr_no_recorded": "No recorded curves ({error}). Press **Start** to train live.",
    "degr_started": "Started: {networks} networks, {steps} steps each, on the {data} data.",
    "degr_busy": (
        "A run is already going (started by another visitor): you see its curves. Press Start again when it has finished."
    ),
    "degr_cancelled": "Cancelled.",
    "degr_nothing_to_cancel": "No run is going.",
    "degr_not_yours": "Only the visitor who started this run can cancel it.",
    "degr_no_cifar": "{message}",
    "error_degr_depths": "Choose at least one depth (one of {choices}).",
    "error_degr_depth": "Depth {value!r} is not offered here; choose from {choices}.",
    "error_degr_data": "Unknown data {value!r}; choose offline or cifar10.",
    "error_degr_steps": "Steps must be a whole number from {lo} to {hi}, got {value!r}.",
    "error_degr_preset": "Unknown run {value!r}; choose one of {choices}.",
    "dchart_title": "Training error: plain (dashed) vs ResNet (solid)",
    "dchart_title_recorded": "Recorded run · training error: plain (dashed) vs ResNet (solid)",
    "dchart_title_live": "Live run · training error: plain (dashed) vs ResNet (solid)",
    "dchart_step_axis": "training step",
    "dchart_error_axis": "training error (%)",
    "dchart_plain": "plain-{depth}",
    "dchart_resnet": "ResNet-{depth}",
    "dchart_test": "{name}, test",
    "dchart_lr_drop": "learning rate / 10",
    "dchart_waiting": "waiting for the first points...",
    "dchart_starting": "Starting: loading torch and the data...",
    "dchart_failed": "The run failed before its first point (see the status above).",
    "dchart_grad_title": "Gradient at initialisation, per layer",
    "dchart_grad_title_recorded": "Recorded run · gradient at initialisation, per layer",
    "dchart_grad_title_live": "Live run · gradient at initialisation, per layer",
    "dchart_grad_layer_axis": "layer (input side left)",
    "dchart_grad_axis": "|dL/dW| on the first batch (log scale)",
    "dchart_grad_ratio": "{name}: first / last layer {ratio}x",
    "dchart_grad_waiting": "measured on the run's first batch",
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
    # chart notes, the ratio = 1 line, picture colour bars and titles, the block table
    "chart_ratio_one": "|F(x)| = |x|",
    "chart_residual_note": (
        "How to read: where the ratio (right axis) stays below the |F(x)| = |x| line, a block adds a small "
        "correction to its input instead of replacing it; squares mark convolution blocks (re-projected shortcut)."
    ),
    "chart_gradient_note": (
        "How to read: the gradient travels from the class score (right) back to the input (left); the "
        "shortcut keeps the ResNet's line level, while the plain twin's can fade or blow up by decades."
    ),
    "chart_lesion_note": (
        "How to read: a tall bar means removing that block's residual branch changes the prediction a lot; "
        "most single blocks can go with little effect, convolution blocks usually matter most."
    ),
    "chart_scale_zero": "0",
    "chart_scale_max": "max",
    "chart_scale_max_value": "max {value:.3g}",
    "chart_scale_value": "{value:.3g}",
    "chart_scale_for": "for the class",
    "chart_scale_against": "against the class",
    "chart_scale_attribution": "importance",
    "chart_scale_activation": "activation",
    "chart_title_attribution": "{method} · {stage} · target: {label} · {arch}",
    "chart_title_attribution_no_stage": "{method} · target: {label} · {arch}",
    "chart_title_channel": "{stage} channel #{channel} · {arch}",
    "chart_title_ladder": "Grad-CAM at C2-C5 · target: {label} · {arch}",
    "chart_grid_title_mean": "{stage}: {count} most active channels",
    "chart_grid_title_gradcam": "{stage}: {count} channels with the largest Grad-CAM weight for '{label}'",
    "chart_block_col_seed": "block",
    "chart_block_col_torchvision": "torchvision name",
    "chart_block_col_kind": "kind",
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
    "degr_heading": "### 성능 저하(degradation): plain 네트워크와 잔차 네트워크를 직접 학습하기",
    "degr_help": (
        "고른 깊이마다 plain 네트워크(지름길 없음: 각 블록이 ReLU(F(x))를 출력)와 ResNet(shortcut connection)을 같은 "
        "배치로 나란히 학습합니다. 학습은 이 서버의 별도 프로세스에서 돌고, 곡선은 아래에서 자라납니다. 학습은 한 번에 "
        "하나뿐이며 모든 방문자가 같은 학습을 봅니다."
    ),
    "degr_notice": (
        "**눈여겨볼 점:** 더 깊은 *plain* 네트워크(점선)가 얕은 것보다 오히려 **더 높은 학습 오차**로 끝나는데, 이는 "
        "과적합이 아니라(학습하는 바로 그 데이터에서의 오차입니다) 최적화가 안 되는 문제입니다. 지름길을 더해 "
        "**H(x) = F(x) + x**가 되면 각 블록은 잔차 F(x)만 학습하고 x는 그대로 넘길 수 있으므로, 더 깊은 ResNet(실선)은 "
        "얕은 것만큼 또는 그보다 잘 학습됩니다."
    ),
    "degr_depths_label": "깊이 (6n + 2 층)",
    "degr_data_label": "데이터",
    "degr_data_offline": "오프라인 격자 무늬 (다운로드 없음)",
    "degr_data_cifar10": "CIFAR-10 (미리 다운로드)",
    "degr_steps_label": "네트워크당 학습 스텝 수",
    "degr_start": "시작",
    "degr_plot_label": "학습 오차: plain과 ResNet",
    "degr_gradients_label": "초기화 시점의 층별 그래디언트",
    "degr_preset_label": "실험",
    "degr_preset_default": "기본 실험",
    "degr_preset_deeper": "더 깊은 실험: 56층",
    "degr_finding_default": (
        "**기본 실험: 논문의 그림 6과 같은 모양.** 두 plain 네트워크가 모두 학습되고, 확인한 모든 시드에서 더 깊은 쪽이 "
        "더 높은 학습 오차로 끝납니다. 같은 깊이의 ResNet은 ResNet-20과 같거나 더 낮게 끝납니다(시드에 따른 흔들림 범위 "
        "안). 논문(He et al. 2016, CIFAR-10, 128장 배치로 64,000 스텝)에서는 plain-56의 학습 오차가 학습 내내 plain-20보다 "
        "높고(그림 6 왼쪽), ResNet은 깊을수록 좋아집니다. 테스트 오차가 ResNet-20은 8.75%, ResNet-56은 6.97%입니다(표 6). "
        "**이 오프라인 격자 무늬가 보여 주는 것과 보여 주지 못하는 것:** 더 깊은 plain 네트워크가 얕은 쪽보다 100-700 "
        "스텝 늦게 찍기 수준을 벗어나고 끝까지 뒤처지는 모습은 보여 줍니다. 하지만 논문처럼 깊이에서 얻는 이득은 보여 주지 "
        "못합니다. 8x8 격자 무늬는 쉬워서 모든 ResNet이 0% 가까이로 끝나므로, ResNet이 여기서 보여 줄 수 있는 것은 "
        "\"깊어져도 나빠지지 않는다\"까지입니다. 또 여기의 어떤 수치도 CIFAR-10의 수치가 아닙니다."
    ),
    "degr_finding_deeper": (
        "**더 깊은 실험(56층, 더 길게): 논문보다 더 강한 실패.** 이 격자 무늬에서 plain-56은 거의 학습되지 않습니다. "
        "학습 오차가 75-90%로 끝나는데(클래스가 10개라 찍기 수준이 90%입니다. 새 시드 6개), plain-20은 1% 미만으로 "
        "끝나고, 똑같은 초기 가중치에서 출발한 ResNet-56도 1% 미만으로 끝납니다. 논문의 그림 6에서는 CIFAR-10에서 "
        "plain-56도 학습되며, plain-20보다 높은 오차로 끝날 뿐입니다. 곡선 옆의 그래디언트 차트가 여기서 이렇게 늦게, "
        "또는 아예 출발하지 못하는 이유를 보여 줍니다. 초기화 시점에 plain-56의 첫 층 그래디언트는 마지막 층의 "
        "800-2,800배입니다(plain-20은 5-12배, ResNet은 약 1배). 그래서 하나의 학습률이 plain 네트워크의 양 끝에 모두 "
        "맞을 수는 없습니다."
    ),
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
    "attribution_info": (
        "**{label}**에 대한 **{method}**{where} (p = {probability:.3f}) · {arch} · 원래 범위 [{lo:.3g}, {hi:.3g}] · {ms:.0f} ms"
    ),
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
    # --- added with the per-tab page -----------------------------------------------------------
    "error_title": "오류",
    "status_idle_no_photo": "사진이 없습니다: 사진을 올리거나 예시를 누르세요.",
    "banner_random_chosen": (
        "**무작위 가중치: 예측은 의미가 없습니다.** 이 서버는 {arch}에 `--weights random`으로 시작되었습니다. "
        "학습된 ResNet의 예측을 보려면 `--weights imagenet`(기본값)으로 시작하세요."
    ),
    "crop_sliver": (
        "**참고:** 이 사진은 {width}x{height} px입니다. 짧은 변이 {scale:.1f}배로 늘어나고 224x224 크롭에는 긴 변의 "
        "{shown:.0f}%만 들어갑니다. 네트워크는 늘어난 가느다란 조각을 보므로 예측은 사진에 대해 말해 주는 것이 거의 없습니다."
    ),
    "grid_title_mean": "#### {stage}: 가장 강하게 활성화된 채널 {n}개 ({arch}, 평균 활성값 순)",
    "grid_title_gradcam": "#### {stage}: **{label}**에 대한 Grad-CAM 가중치가 가장 큰 채널 {n}개 ({arch})",
    "grid_hint": "타일 하나가 채널 하나이며 #번호가 붙어 있습니다. 타일을 누르면 아래에 그 채널이 크게 보입니다.",
    "channel_info": "Enter를 누르면 보입니다",
    "channel_caption": (
        "224x224 크롭 위의 **{stage}, 채널 {channel}** ({arch}): 노란색 = 강한 활성, 어두운 색 = 활성 없음 "
        "(최댓값 {peak:.3g})."
    ),
    "error_stage": "{stage}는 이 네트워크의 스테이지가 아닙니다. {stages} 중에서 고르세요.",
    "blocks_label": "블록: 설계 문서의 이름, torchvision의 이름, 그래프의 값",
    "col_block_seed": "블록",
    "col_block_torchvision": "torchvision 이름",
    "col_kind": "종류",
    "col_residual": "|F(x)| (RMS)",
    "col_shortcut": "|x| (RMS)",
    "col_ratio": "|F(x)| / |x|",
    "kind_identity": "identity block",
    "kind_convolution": "convolution block",
    "target_info": "클래스 이름을 입력하고 Enter를 누르세요 (영어 ImageNet 이름, 예: tabby, golden retriever)",
    "cancel_button": "취소",
    "error_target_hangul": (
        "클래스 이름은 영어 ImageNet 이름입니다. '{query}'는 그런 이름이 아닙니다. 예: 'tabby', 'golden retriever'."
    ),
    "error_target_ambiguous": "'{query}'에 맞는 클래스가 여러 개입니다: {candidates}. 원하는 것을 입력하세요.",
    "error_target_unknown": "'{query}'라는 ImageNet 클래스는 없습니다. 예: 'tabby', 'golden retriever'.",
    "ig_delta_small": "완전성 오차 {share:.1f}% (f(x) - f(기준) 대비): 작음, 지도가 점수 변화를 설명합니다",
    "ig_delta_moderate": "완전성 오차 {share:.0f}% (f(x) - f(기준) 대비): 중간, 단계를 늘리면 줄어듭니다",
    "ig_delta_large": (
        "완전성 오차 {share:.0f}% (f(x) - f(기준) 대비): 큼, 지도가 점수 변화의 상당 부분을 놓칩니다 "
        "(단계를 늘리거나 학습된 가중치를 쓰면 나아집니다)"
    ),
    "at_stage": " ({stage})",
    "colours_unsigned": "색: 파랑 = 기여 없음, 빨강 = 가장 강한 기여",
    "colours_signed": "색: 빨강 = 클래스에 찬성, 파랑 = 반대, 흰색 = 어느 쪽도 아님",
    "expected_fast": "{method}는 순전파 한 번과 역전파 한 번이면 됩니다: 1초 이내.",
    "expected_slow": "{method}는 이미지 {n}장을 평가합니다: 이 서버에서 약 {seconds:.0f}초. 취소할 수 있습니다.",
    "expected_slow_unknown": "{method}는 이미지 {n}장을 평가합니다: 몇 초 걸립니다. 취소할 수 있습니다.",
    "computing": "새 사진의 Grad-CAM을 계산하는 중...",
    "press_explain": "이 사진의 {method}를 계산하려면 **설명하기**를 누르세요.",
    "slow_waiting": "{method}: 모델을 기다리는 중",
    "cancelled": "{method}를 취소했습니다.",
    "lesion_press": "**블록 제거 실험 실행**을 누르면 블록 {blocks}개의 잔차 가지를 하나씩 없애 봅니다.",
    "lesion_done": "블록 제거 {blocks}번, {ms:.0f} ms: 그중 {changed}번 최상위 클래스가 바뀌었습니다.",
    "intact_top5_label": "원래 네트워크의 상위 5개",
    "readme_title": "resnet-viz: {arch}, {weights} 가중치, {width}x{height} 사진 (최상위 클래스 '{label}').",
    "file_analysis": "분석 결과: 상위 5개, C1-C5 통계, 블록별 |F(x)|와 |x| (JSON)",
    "file_crop": "네트워크가 본 224x224 크롭",
    "file_grid": "스테이지 {stage}의 특징 격자 (채널마다 타일 하나)",
    "file_channel": "크롭 위의 스테이지 {stage}, 채널 {channel}",
    "file_heatmap": "크롭 위의 기여도 지도 (방법과 대상은 attribution.json에)",
    "file_attribution": "기여도: 방법, 대상 클래스, 지도 값 (JSON)",
    "file_ladder": "C2, C3, C4, C5의 Grad-CAM",
    "file_residual_chart": "깊이에 따른 |F(x)|와 |x| (잔차 vs 지름길 탭의 그래프)",
    "file_gradient_flow_chart": "plain 쌍둥이와 비교한 기울기 흐름 (그래프)",
    "file_gradient_flow": "블록별 기울기 흐름 (JSON)",
    "file_lesion_chart": "블록 제거 실험 (그래프)",
    "file_lesion": "블록별 블록 제거 실험 결과 (JSON)",
    "file_scaled": "잔차 가지를 조절한 상위 5개 (JSON)",
    "file_architecture": "아키텍처 표 (CSV)",
    "featvis_heading": "#### 이 채널을 가장 강하게 활성화하는 이미지 (특징 시각화)",
    "featvis_button": "이 채널 시각화하기",
    "featvis_press": (
        "**이 채널 시각화하기**를 누르면 {stage} 채널 {channel}이 가장 강하게 반응하는 이미지를 계산합니다: 노이즈에서 "
        "{steps}단계 (Olah et al. 2017), 이 서버에서 약 {seconds:.0f}초. 한 번 계산하면 모든 방문자에게 보관됩니다."
    ),
    "featvis_shown": (
        "{arch}의 **{stage} 채널 {channel}**이 가장 강하게 반응하는 이미지 (노이즈에서 {steps}단계): 평균 활성값 {activation:.3g}."
    ),
    "featvis_waiting": "특징 시각화: 모델을 기다리는 중",
    "featvis_progress": "특징 시각화",
    "featvis_cancelled": "{stage} 채널 {channel}의 시각화를 취소했습니다.",
    "exemplars_heading": "#### 이 채널을 가장 강하게 활성화하는 데이터셋 조각",
    "exemplars_none": (
        "불러온 예시 색인이 없습니다. 사진 폴더로 `python -m resnet_viz index FOLDER --arch {arch} --out INDEX.npz`를 "
        "실행해 색인을 만들고 `--index INDEX.npz`로 앱을 시작하세요."
    ),
    "exemplars_mismatch": "불러온 예시 색인이 이 모델과 맞지 않습니다: {reason}",
    "exemplars_shown": "색인된 이미지 {images}장 중 **{stage} 채널 {channel}**을 가장 강하게 활성화하는 조각 {n}개 (점수 = 최댓값).",
    "image_reason_empty": "빈 파일입니다 (0바이트)",
    "image_reason_missing": "파일이 없어졌습니다. 다시 올리세요",
    "image_reason_bomb": "안전하게 풀기에는 픽셀이 너무 많습니다",
    "image_reason_not_image": "이미지가 아니거나 Pillow가 읽을 수 없는 형식입니다",
    "image_reason_unreadable": "파일을 읽을 수 없습니다",
    "image_reason_bad_array": "이미지 배열이 아닙니다",
    "image_reason_too_many_pixels": "{width}x{height} 픽셀로, 한도 {limit:,}픽셀보다 많습니다. 먼저 줄이세요",
    "image_reason_no_pixels": "픽셀이 없는 이미지입니다 ({width}x{height})",
    "image_reason_corrupt": "잘렸거나 손상된 파일입니다",
    "degr_state_starting": "시작 중 (torch와 데이터를 불러오는 중)",
    "degr_state_running": "학습 중",
    "degr_state_finished": "완료",
    "degr_state_cancelled": "취소됨",
    "degr_state_failed": "실패",
    "degr_status": "실시간 학습: **{state}** · {steps} 스텝 중 {step} · {seconds:.0f}초",
    "degr_paused": "앱의 모델이 계산하는 동안 잠시 멈춤",
    "degr_not_paused": "멈추지 않음 (지금까지 앱의 모델이 계산하는 동안 {pauses}번 멈춤)",
    "degr_recorded": (
        "기록된 곡선 ({preset}): {machine}에서 {date}에 `{command}` 명령으로 학습한 결과 ({seconds:.0f}초) · 최종 학습 "
        "오차: {errors}. **시작**을 누르면 직접 학습합니다."
    ),
    "degr_summary": "최종 학습 오차: {errors}",
    "degr_no_recorded": "기록된 곡선이 없습니다 ({error}). **시작**을 누르면 직접 학습합니다.",
    "degr_started": "시작했습니다: 네트워크 {networks}개, 각각 {steps} 스텝, {data} 데이터.",
    "degr_busy": (
        "다른 방문자가 시작한 학습이 이미 진행 중입니다. 그 곡선을 보여 드립니다. 끝난 뒤에 다시 시작을 누르세요."
    ),
    "degr_cancelled": "취소했습니다.",
    "degr_nothing_to_cancel": "진행 중인 학습이 없습니다.",
    "degr_not_yours": "이 학습은 시작한 방문자만 취소할 수 있습니다.",
    "degr_no_cifar": (
        "이 서버에 CIFAR-10이 없습니다 ({root}). 인터넷이 되는 곳에서 `python -m resnet_viz download --data cifar10`을 "
        "실행하거나 오프라인 데이터를 고르세요."
    ),
    "error_degr_depths": "깊이를 하나 이상 고르세요 ({choices} 중에서).",
    "error_degr_depth": "깊이 {value!r}는 고를 수 없습니다. {choices} 중에서 고르세요.",
    "error_degr_data": "알 수 없는 데이터 {value!r}입니다. offline 또는 cifar10을 고르세요.",
    "error_degr_steps": "스텝 수는 {lo}부터 {hi}까지의 정수여야 합니다. 받은 값: {value!r}.",
    "error_degr_preset": "알 수 없는 실험입니다: {value!r}. 다음 중에서 고르세요: {choices}.",
    "dchart_title": "학습 오차: plain (점선)과 ResNet (실선)",
    "dchart_title_recorded": "기록된 학습 · 학습 오차: plain (점선)과 ResNet (실선)",
    "dchart_title_live": "실시간 학습 · 학습 오차: plain (점선)과 ResNet (실선)",
    "dchart_step_axis": "학습 스텝",
    "dchart_error_axis": "학습 오차 (%)",
    "dchart_plain": "plain-{depth}",
    "dchart_resnet": "ResNet-{depth}",
    "dchart_test": "{name}, 테스트",
    "dchart_lr_drop": "학습률 / 10",
    "dchart_waiting": "첫 점을 기다리는 중...",
    "dchart_starting": "시작하는 중: torch와 데이터를 불러오고 있습니다...",
    "dchart_failed": "첫 점이 나오기 전에 학습이 실패했습니다 (위의 상태 줄을 보세요).",
    "dchart_grad_title": "초기화 시점의 층별 그래디언트",
    "dchart_grad_title_recorded": "기록된 학습 · 초기화 시점의 층별 그래디언트",
    "dchart_grad_title_live": "실시간 학습 · 초기화 시점의 층별 그래디언트",
    "dchart_grad_layer_axis": "층 (왼쪽이 입력 쪽)",
    "dchart_grad_axis": "첫 배치에서의 |dL/dW| (로그 눈금)",
    "dchart_grad_ratio": "{name}: 첫 층 / 마지막 층 {ratio}배",
    "dchart_grad_waiting": "학습의 첫 배치에서 잽니다",
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
    "chart_ratio_one": "|F(x)| = |x|",
    "chart_residual_note": (
        "읽는 법: 비율(오른쪽 축)이 |F(x)| = |x| 선보다 아래에 있으면, 그 블록은 입력을 바꾸기보다 작은 보정을 "
        "더합니다. 네모는 convolution block(지름길을 다시 투영)입니다."
    ),
    "chart_gradient_note": (
        "읽는 법: 기울기는 클래스 점수(오른쪽)에서 입력(왼쪽)으로 거꾸로 흐릅니다. 지름길 덕분에 ResNet의 선은 "
        "평평하게 유지되지만, plain 쌍둥이의 선은 몇 자릿수씩 작아지거나 커질 수 있습니다."
    ),
    "chart_lesion_note": (
        "읽는 법: 막대가 높을수록 그 블록의 잔차 가지를 없앴을 때 예측이 크게 바뀝니다. 블록 하나쯤은 없애도 "
        "대부분 영향이 작고, 보통 convolution block이 가장 중요합니다."
    ),
    "chart_scale_zero": "0",
    "chart_scale_max": "최대",
    "chart_scale_max_value": "최대 {value:.3g}",
    "chart_scale_value": "{value:.3g}",
    "chart_scale_for": "클래스를 지지함",
    "chart_scale_against": "클래스에 반대함",
    "chart_scale_attribution": "중요도",
    "chart_scale_activation": "활성값",
    "chart_title_attribution": "{method} · {stage} · 대상: {label} · {arch}",
    "chart_title_attribution_no_stage": "{method} · 대상: {label} · {arch}",
    "chart_title_channel": "{stage} 채널 #{channel} · {arch}",
    "chart_title_ladder": "C2-C5의 Grad-CAM · 대상: {label} · {arch}",
    "chart_grid_title_mean": "{stage}: 가장 강하게 활성화된 채널 {count}개",
    "chart_grid_title_gradcam": "{stage}: '{label}'에 대한 Grad-CAM 가중치가 가장 큰 채널 {count}개",
    "chart_block_col_seed": "블록",
    "chart_block_col_torchvision": "torchvision 이름",
    "chart_block_col_kind": "종류",
}

# One name per attribution method, from its spec (menus and captions use the same).
for _key, _spec in METHOD_SPECS.items():
    EN[f"method_{_key}"] = _spec.name("en")
    KO[f"method_{_key}"] = _spec.name("ko")

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


def image_error(exc: "ImageError", lang: str) -> str:
    """Why an image was refused, in ``lang`` (English keeps Pillow's own detail)."""
    reason = exc.reason if lang == "en" else tr(f"image_reason_{exc.code}", lang, **exc.details)
    return tr("error_image", lang, reason=reason)
