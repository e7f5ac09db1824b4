"""Every string of the web pages, in Chinese (zh-CN, the default) and English — one place.

``t(key, lang, **values)`` looks a key up; option labels for the case model's
enumerations, counties and qualification ladders come from the policy layer's own
bilingual tables, so they are not repeated here.
"""

from __future__ import annotations

from typing import Final, Literal

from hukou.policy import places
from hukou.policy.scales import LABELS as SCALE_LABELS

Lang = Literal["zh", "en"]
LANGS: Final = ("zh", "en")
HTML_LANG: Final = {"zh": "zh-CN", "en": "en"}

MESSAGES: Final[dict[str, tuple[str, str]]] = {
    # ---- frame ----
    "sep": ("：", ": "),
    "paren": ("（{x}）", " ({x})"),
    "site.title": ("嘉兴市落户自助服务", "Jiaxing hukou self-service"),
    "site.subtitle": (
        "依据《嘉兴市人民政府办公室关于进一步深化户籍制度改革的实施意见》（嘉政办发〔2020〕28号）",
        "Under the Jiaxing notice 嘉政办发〔2020〕28号 on deepening the hukou reform",
    ),
    "nav.label": ("主导航", "Main navigation"),
    "nav.home": ("首页", "Home"),
    "nav.check": ("落户自测", "Self-check"),
    "nav.track": ("查询办理进度", "Track an application"),
    "nav.login": ("工作人员登录", "Staff login"),
    "nav.logout": ("退出登录", "Log out"),
    "nav.officer": ("民警工作台", "Officer workbench"),
    "nav.moveouts": ("§4.5 迁出程序", "§4.5 move-outs"),
    "nav.moves": ("户口迁移", "Moves"),
    "nav.keeper": ("集体户管理", "Collective household"),
    "nav.analyst": ("统计分析", "Analysis"),
    "lang.switch": ("English", "中文"),
    "lang.switch_label": ("切换语言", "Switch language"),
    "skip": ("跳到正文", "Skip to content"),
    "footer": (
        "本页面仅供参考，以公安机关审核结论为准。自助测评不保存任何信息。",
        "For guidance only; the police station's decision is what counts. The self-check stores nothing.",
    ),
    "footer.staff": (
        "工作人员页面，仅供经授权的工作人员使用。",
        "Staff pages, for authorised staff only.",
    ),
    "signed_in_as": ("当前用户：{user}（{role}）", "Signed in as {user} ({role})"),
    "role.officer": ("派出所民警", "police officer"),
    "role.keeper": ("户籍协管员", "collective-household keeper"),
    "role.analyst": ("统计分析人员", "analyst"),
    "role.admin": ("系统管理员", "administrator"),
    # ---- home ----
    "home.heading": ("嘉兴市落户服务", "Settling in Jiaxing"),
    "home.intro": (
        "两分钟了解您能否在嘉兴落户、依据哪一条款、需要带哪些材料、户口登记在哪里。",
        "Find out in two minutes whether you can settle in Jiaxing, under which clause, what to bring and where your hukou would be registered.",
    ),
    "home.start": ("开始落户自测", "Start the self-check"),
    "home.track": ("已提交申请？查询办理进度", "Applied already? Track your application"),
    "home.staff": ("工作人员入口", "Staff"),
    # ---- interview ----
    "check.heading": ("落户自测", "Self-check"),
    "check.intro": (
        "只询问会影响结论的问题。不确定的可选“不清楚”。不保存任何信息，关闭页面即清除。",
        "Only questions that can change the outcome are asked. Choose “don't know” when unsure. Nothing is stored; closing the page forgets it all.",
    ),
    "check.start": ("开始", "Start"),
    "check.next": ("下一步", "Next"),
    "check.back": ("上一步", "Back"),
    "check.restart": ("重新开始", "Start again"),
    "check.progress": ("第 {n} 步，共约 {total} 步", "Step {n} of about {total}"),
    "check.progress_label": ("测评进度", "Progress"),
    "check.expired": (
        "测评数据无效或已过期，请重新开始。",
        "The answers could not be read back; please start again.",
    ),
    "check.fix": ("请更正以下问题：", "Please correct the following:"),
    "check.id_or_birth": (
        "请填写身份证号码，或出生日期和性别。",
        "Give the ID number, or the birth date and sex.",
    ),
    "check.optional": ("选填", "optional"),
    "check.choose": ("请选择", "Please choose"),
    "check.date_hint": (
        "格式：年-月-日，例如 2021-07-01",
        "Format: year-month-day, e.g. 2021-07-01",
    ),
    # steps
    "step.identity": ("您的身份", "Who you are"),
    "step.identity.hint": (
        "身份证号码可推算出生日期和性别；不愿填写的，可只填出生日期和性别。",
        "The ID number gives the birth date and sex; or give only those two.",
    ),
    "step.hukou": ("您现在的户口", "Your hukou now"),
    "step.dwelling": ("您在嘉兴的住所", "Your home in Jiaxing"),
    "step.dwelling_detail": ("关于这套住所", "About this home"),
    "step.residence": ("居住情况", "Where you live"),
    "step.qualifications": ("学历、职称和技能", "Education, title and skills"),
    "step.vocational_school": ("中职（技校）毕业", "Secondary-vocational school"),
    "step.work": ("工作", "Work"),
    "step.family": ("家庭成员", "Your family"),
    "step.family.hint": (
        "希望一起落户或您希望投靠的配偶、子女和父母。",
        "The spouse, children and parents who would come along, or whom you would join.",
    ),
    "step.relative_basic": ("{who}：基本情况", "{who}: basics"),
    "step.relative_hukou": ("{who}：户口", "{who}: hukou"),
    "step.relative_home": ("{who}：住所和居住", "{who}: home and residence"),
    "step.relative_quals": ("{who}：学历和职称", "{who}: education and title"),
    "step.lost": ("户口登记地址", "Your registration address"),
    "step.offers": ("户口可登记的地方", "Where the hukou could be registered"),
    "rel.spouse": ("配偶", "spouse"),
    "rel.child": ("子女", "child"),
    "rel.parent": ("父母", "parent"),
    "who.spouse": ("配偶", "Spouse"),
    "who.child": ("子女{n}", "Child {n}"),
    "who.parent": ("父母{n}", "Parent {n}"),
    # questions: applicant
    "q.id_number": ("身份证号码（18位）", "Resident ID number (18 characters)"),
    "q.birth_date": ("出生日期", "Birth date"),
    "q.sex": ("性别", "Sex"),
    "q.hukou_kind": ("您的户口现在在哪类户", "What kind of household is your hukou in now"),
    "q.hukou_county": ("户口所在县（市、区）", "County of your hukou"),
    "q.hukou_area": ("户口地址在城区（城镇）还是乡村", "Is the hukou address urban or rural"),
    "q.dw_tenure": ("您在嘉兴有住所吗", "Do you have a home in Jiaxing"),
    "q.dw_county": ("住所所在县（市、区）", "County of the home"),
    "q.dw_area": ("住所在城区（城镇）还是乡村", "Is the home urban or rural"),
    "q.dw_commercial": ("是否商品住房", "Is it commercial housing"),
    "q.lives_in": ("您现在居住在哪个县（市、区）", "In which county do you live now"),
    "q.res_since": (
        "从哪一天起连续居住在该县（市、区）",
        "Since which day have you lived there without a break",
    ),
    "q.registration": ("是否办理了居住登记", "Have you registered your residence"),
    "q.permit_held": ("是否持有《浙江省居住证》", "Do you hold a Zhejiang residence permit"),
    "q.permit_county": ("居住证发证地", "Where was the permit issued"),
    "q.education": ("最高学历", "Highest education"),
    "q.title": ("职称", "Professional title"),
    "q.vocational": ("国家职业资格等级", "National vocational qualification"),
    "q.voc_grad": (
        "是否中等职业学校（含技工学校）毕业",
        "Did you graduate from a secondary-vocational (or technical) school",
    ),
    "q.voc_grad_date": ("毕业日期", "Graduation date"),
    "q.labour_contract": (
        "是否与嘉兴的企事业单位签订劳动（聘用）合同",
        "Do you have a labour contract with a Jiaxing employer",
    ),
    "q.business": ("是否在本地经商办企业", "Do you run a business locally"),
    "q.spouse": ("配偶", "Spouse"),
    "q.children": ("子女人数", "Number of children"),
    "q.parents": ("父母人数", "Number of parents"),
    "q.lost_registration": (
        "是否因征收、征迁、房屋产权转移或离婚等失去了户口登记地址",
        "Have you lost your registration address (expropriation, demolition, sale, divorce …)",
    ),
    "q.offer_relative": (
        "城区（城镇）亲友家庭户是否同意接收您的户口",
        "Would a relative's urban family household take your hukou",
    ),
    "q.offer_unit": (
        "单位集体户是否同意接收",
        "Would your employer's collective household take it",
    ),
    "q.offer_talent": (
        "是否由公共就业和人才服务机构集体户接收",
        "Would the public talent-service collective household take it",
    ),
    # questions: a relative
    "q.r.birth_date": ("出生日期", "Birth date"),
    "q.r.sex": ("性别", "Sex"),
    "q.r.lives_with": ("是否与您共同居住生活", "Does this person live with you"),
    "q.r.hukou_kind": ("其户口现在在哪类户", "What kind of household is their hukou in"),
    "q.r.hukou_county": ("其户口所在县（市、区）", "County of their hukou"),
    "q.r.hukou_area": ("其户口地址在城区（城镇）还是乡村", "Is their hukou address urban or rural"),
    "q.r.owner_consent": (
        "其户口登记地的房主（单位）是否同意投靠",
        "Does the owner of their registration place agree",
    ),
    "q.r.dw_tenure": ("其在嘉兴有住所吗", "Do they have a home in Jiaxing"),
    "q.r.dw_county": ("其住所所在县（市、区）", "County of their home"),
    "q.r.dw_area": ("其住所在城区（城镇）还是乡村", "Is their home urban or rural"),
    "q.r.dw_commercial": ("是否商品住房", "Is it commercial housing"),
    "q.r.lives_in": ("其现居住县（市、区）", "County they live in"),
    "q.r.permit_held": ("其是否持有《浙江省居住证》", "Do they hold a Zhejiang residence permit"),
    "q.r.permit_county": ("其居住证发证地", "Where was their permit issued"),
    "q.r.res_since": ("其从哪一天起连续居住在该地", "Since when have they lived there"),
    "q.r.education": ("其最高学历", "Their highest education"),
    "q.r.title": ("其职称", "Their professional title"),
    "q.r.vocational": ("其国家职业资格等级", "Their vocational qualification"),
    # options
    "opt.yes": ("是", "Yes"),
    "opt.no": ("否", "No"),
    "opt.?": ("不清楚", "Don't know"),
    "opt.male": ("男", "Male"),
    "opt.female": ("女", "Female"),
    "opt.urban": ("城区（城镇）", "Urban area or town"),
    "opt.rural": ("乡村", "Rural"),
    "opt.elsewhere": ("嘉兴市以外", "Outside Jiaxing"),
    "opt.owned": ("自有产权住房", "Own a home"),
    "opt.rented_registered": ("租赁住房（已登记备案）", "Rent, lease registered"),
    "opt.rented_unregistered": ("租赁住房（未登记备案）", "Rent, lease not registered"),
    "opt.none": ("没有", "None"),
    "opt.own_family_household": ("本人家庭户", "My own family household"),
    "opt.relative_family_household": ("亲友家庭户", "A relative's or friend's family household"),
    "opt.unit_collective": ("单位集体户", "An employer's collective household"),
    "opt.talent_service_collective": (
        "公共就业和人才服务机构集体户",
        "The public talent-service collective household",
    ),
    "opt.community_collective": (
        "社区（村）公共集体户",
        "A community (village) collective household",
    ),
    "opt.outside_jiaxing": ("嘉兴市以外", "Outside Jiaxing"),
    "opt.land_expropriation": ("土地征收", "Land expropriation"),
    "opt.demolition": ("房屋征迁", "Demolition"),
    "opt.ownership_transfer": ("房屋产权转移", "Sale or transfer of the home"),
    "opt.divorce": ("离婚", "Divorce"),
    "opt.other": ("其他原因", "Another reason"),
    "opt.lost.none": ("没有", "No"),
    # ---- result ----
    "result.heading": ("测评结果", "Your result"),
    "result.date": ("测评日期：{date}", "Decided on {date}"),
    "result.summary.eligible": ("您可以落户", "You may settle"),
    "result.summary.not_eligible": ("暂不符合落户条件", "You may not settle yet"),
    "result.summary.undetermined": ("尚不能确定", "Not yet determined"),
    "result.summary.not_in_force": (
        "该日期政策尚未施行",
        "The notice is not in force on that date",
    ),
    "result.earliest": ("最早可于 {date} 符合条件", "Eligible from {date} at the earliest"),
    "result.not_asked": (
        "您已可依{clause}落户：其余渠道标为“待定”的问题未再询问。",
        "You may settle under {clause}: the questions of the channels marked “open” were not asked.",
    ),
    "result.channels": ("各落户渠道", "Channels"),
    "result.clause": ("条款", "Clause"),
    "result.channel": ("渠道", "Channel"),
    "result.status": ("结论", "Result"),
    "result.notes": ("说明", "Notes"),
    "status.eligible": ("可以", "Yes"),
    "status.not_eligible": ("不符合", "No"),
    "status.not_yet": ("暂不符合", "Not yet"),
    "status.undetermined": ("待定", "Open"),
    "result.from": ("自 {date} 起符合", "from {date}"),
    "result.until": ("至 {date} 止", "until {date}"),
    "result.self_only": ("仅限本人", "self only"),
    "result.open_facts": ("还取决于：{facts}", "still depends on: {facts}"),
    "result.clause_text": ("条款原文", "Text of the clause"),
    "result.place": ("户口登记地", "Where the hukou would be registered"),
    "result.place_open": ("按§4.3顺序待定，可能为：{c}", "open, in the order of §4.3: {c}"),
    "result.family": ("家庭成员能否随迁或投靠", "Who of your family may come"),
    "result.relative": ("家庭成员", "Family member"),
    "result.routes": ("途径", "Routes"),
    "result.no_family": ("未填写家庭成员。", "No family members were named."),
    "result.materials": ("需准备的材料（可打印）", "Materials to bring (printable)"),
    "result.materials_for": ("按{clause}办理", "For {clause}"),
    "result.if_applicable": ("（如适用）", "(if applicable)"),
    "result.general": ("通用材料", "general"),
    "result.print_hint": (
        "可使用浏览器的“打印”功能打印本清单。",
        "Use your browser's print command to print this checklist.",
    ),
    "result.answers": ("您的回答", "Your answers"),
    "result.change": ("修改", "Change"),
    "result.priority": ("§4.2 优先落户群体", "§4.2 priority groups"),
    "result.anchor": ("被投靠人", "the person joined"),
    "result.anchor_open": (
        "申请人可能投靠此亲属（被投靠人），尚待确定；此亲属本人无需迁移",
        "the applicant may join this relative (not yet determined); they do not move",
    ),
    "explain.na": ("不适用", "not applicable"),
    "explain.applies": ("适用", "applies"),
    "result.apply": ("据此提交落户申请", "Apply on this basis"),
    "result.apply_hint": (
        "提交后将转交户口所在地派出所受理，并获得查询编号。提交即表示同意保存上述信息。",
        "The application goes to the police station of the county and you get a reference number. Applying means these answers are stored.",
    ),
    "apply.name": ("姓名", "Full name"),
    "apply.id_number": ("身份证号码", "Resident ID number"),
    "apply.channel": ("申请渠道", "Channel applied for"),
    "apply.county": ("受理派出所所在县（市、区）", "County of the police station"),
    "apply.origin": (
        "现户口所在地（县级行政区划代码）",
        "Where your hukou is now (six-digit county code)",
    ),
    "apply.origin_hint": (
        "如 341221（安徽省临泉县）。省外迁入须凭准予迁入证明办理，省内迁移一站办结",
        "e.g. 341221 (Linquan, Anhui). From outside Zhejiang a move-in permit is issued; "
        "within Zhejiang the move is done in one step",
    ),
    "apply.submit": ("提交申请", "Submit the application"),
    "apply.done": ("申请已提交", "Application submitted"),
    "apply.reference": ("您的查询编号：", "Your reference number:"),
    "apply.keep": (
        "请记下此编号，凭编号查询办理进度。",
        "Keep this number; use it to track your application.",
    ),
    "apply.none_eligible": (
        "目前没有可以申请的落户渠道。",
        "There is no channel you could apply under now.",
    ),
    # the self-service page's answer when an application cannot be taken online: the same
    # whoever holds the open application, wherever (it names no reference, county or name)
    "apply.not_taken": (
        "该申请未能在网上受理。请本人携带居民身份证到派出所户籍窗口办理。",
        "This application cannot be taken online. Please come in person, with your resident "
        "ID card, to the household-registration counter of a police station.",
    ),
    # ---- track ----
    "track.heading": ("查询办理进度", "Track an application"),
    "track.reference": ("查询编号", "Reference number"),
    "track.submit": ("查询", "Look up"),
    "track.none": ("未找到该编号的申请。", "No application has that reference number."),
    "track.state": ("办理状态", "State"),
    "track.kind": ("申请渠道", "Channel"),
    "track.county": ("受理地", "County"),
    "track.applicant": ("申请人", "Applicant"),
    "track.decided": ("决定日期", "Decided on"),
    "state.draft": ("草稿", "draft"),
    "state.submitted": ("已提交", "submitted"),
    "state.under_review": ("审查中", "under review"),
    "state.approved": ("准予落户", "approved"),
    "state.rejected": ("不予落户", "rejected"),
    "state.registered": ("已办理落户登记", "registered"),
    "state.withdrawn": ("已撤回", "withdrawn"),
    # ---- login / errors ----
    "login.heading": ("工作人员登录", "Staff login"),
    "login.username": ("用户名", "Username"),
    "login.password": ("密码", "Password"),
    "login.submit": ("登录", "Log in"),
    "error.heading": ("无法完成", "This could not be done"),
    "error.forbidden": ("您无权查看此页面。", "You may not see this page."),
    "error.csrf": (
        "表单已失效（安全校验失败），请返回后重新提交。",
        "The form has expired (security check failed); go back and submit it again.",
    ),
    "error.not_found": ("未找到。", "Not found."),
    "error.back": ("返回首页", "Back to the home page"),
    "error.404.heading": ("页面不存在", "Page not found"),
    "error.404": (
        "没有这个网页。请检查网址，或从首页重新进入。",
        "There is no such page. Check the address, or start again from the home page.",
    ),
    "error.405": (
        "此网页不接受这种请求方式。请从页面上的链接或按钮进入。",
        "This page does not accept that kind of request. Use the links and buttons on the pages.",
    ),
    "error.http": ("请求未能完成（{status}）。", "The request could not be completed ({status})."),
    "error.422.heading": ("请求有误", "The request is not valid"),
    "error.422.path": ("网址中的{field}无效：{problem}", "The {field} in the address {problem}"),
    "error.422.query": ("网址参数{field}无效：{problem}", "The parameter {field} {problem}"),
    "error.422.body": ("表单中的{field}无效：{problem}", "The form's {field} {problem}"),
    "error.500.heading": ("服务器出错", "Server error"),
    "error.500": (
        "服务器处理此请求时出错，错误已记入服务器日志。请稍后重试；如仍出错，请联系系统管理员。",
        "Something went wrong on the server; the error is in the server's log. Try again "
        "later, and if it happens again, tell the system administrator.",
    ),
    # what a page's parameter is (a 422 page names it), and what is wrong with it
    "param.app_id": ("申请编号", "application number"),
    "param.procedure_id": ("迁出程序编号", "procedure number"),
    "param.notice_id": ("通知编号", "notice number"),
    "param.permit_id": ("准予迁入证明编号", "permit number"),
    "param.run_id": ("测算编号", "run number"),
    "param.group": ("图表编号", "chart number"),
    "param.name": ("名称", "name"),
    "param.page": ("页码", "page number"),
    "param.done": ("完成的操作", "action done"),
    "problem.int_parsing": ("应为整数", "must be a whole number"),
    "problem.missing": ("缺少", "is missing"),
    "problem.range": ("超出允许范围", "is out of range"),
    "problem.too_long": ("太长", "is too long"),
    "problem.date": ("应为日期（年-月-日）", "must be a date (year-month-day)"),
    "problem.choice": ("不是可选的值", "is not one of the values allowed"),
    "problem.other": ("格式不正确", "is not in the right form"),
    # ---- officer ----
    "officer.heading": ("民警工作台 · {county}", "Officer workbench · {county}"),
    "officer.queue": ("申请队列", "Applications"),
    "officer.filter": ("按状态筛选", "Filter by state"),
    "officer.all": ("全部", "all"),
    "officer.filter_go": ("筛选", "Filter"),
    "officer.reference": ("编号", "Reference"),
    "officer.applicant": ("申请人", "Applicant"),
    "officer.kind": ("渠道", "Channel"),
    "officer.state": ("状态", "State"),
    "officer.open": ("办理", "Open"),
    "officer.empty": ("没有申请。", "No applications."),
    "officer.source": ("受理方式", "Taken"),
    "officer.source.self_service": ("网上自助", "online (self-service)"),
    "officer.source.officer": ("窗口受理", "at a station"),
    "officer.taken": ("受理日期", "Taken on"),
    "officer.from": ("受理日期（起）", "Taken from"),
    "officer.to": ("受理日期（止）", "Taken until"),
    "officer.ref_filter": ("编号（完整或开头部分）", "Reference (whole, or its start)"),
    "officer.size": ("每页条数", "Per page"),
    "officer.total": (
        "共 {total} 件 · 第 {page}/{pages} 页",
        "{total} application(s) · page {page} of {pages}",
    ),
    "officer.pages": ("翻页", "Pages"),
    "officer.prev": ("上一页", "Previous page"),
    "officer.next": ("下一页", "Next page"),
    "case.heading": ("申请 {ref}", "Application {ref}"),
    "case.facts": ("案件事实", "Facts"),
    "case.decision": ("审查结论（按今日）", "Decision (as of today)"),
    "case.explanation": ("审查说明", "Explanation"),
    "case.materials": ("材料收取情况", "Materials received"),
    "case.received": ("已收取 {date}", "received {date}"),
    "case.not_received": ("未收取", "not received"),
    "case.receive": ("登记收取", "Record as received"),
    "case.actions": ("办理", "Actions"),
    "case.review": ("开始审查", "Start the review"),
    "case.submit": ("提交（受理）", "Submit (accept)"),
    "case.approve": ("准予落户", "Approve"),
    "case.reject": ("不予落户", "Reject"),
    "case.reasons": ("不予落户理由", "Reasons for the rejection"),
    "case.register": ("办理落户登记", "Register"),
    "case.address": ("落户住所地址（新立户）", "Address of the dwelling (new household)"),
    "case.community": ("所属社区", "Community"),
    "case.notice": ("下载决定书（PDF）", "Download the decision notice (PDF)"),
    "case.done": ("已完成：{what}", "Done: {what}"),
    "case.events": ("办理记录", "History"),
    "case.household": ("落户户号：{number}", "Registered in household {number}"),
    "case.identity": (
        "身份核验：以下信息与登记簿不符，须核实后方可准予或登记",
        "Identity check: these facts differ from the register; approval and registration "
        "are refused until they agree",
    ),
    "case.place": ("登记地点（审查结论，§4.3）", "Registration place (the decision's, §4.3)"),
    "case.household_number": (
        "落户至现有户（户号，可不填）",
        "Into an existing household (its number; optional)",
    ),
    "case.placement_reason": (
        "与审查结论不同的登记地点之理由",
        "Reason for registering elsewhere than the decision's place",
    ),
    "case.no_reason": ("（按审查结论登记）", "(as the decision says)"),
    "case.permits": ("准予迁入证明", "Move-in permits"),
    "case.permit_line": (
        "{number} · {state} · 有效至 {until}",
        "{number} · {state} · valid until {until}",
    ),
    "case.migration_doc": (
        "{who} 的户口迁移证编号（或跨省迁移电子信息）",
        "{who}: number of the migration certificate (or the electronic confirmation)",
    ),
    "case.doc_kind": ("证件类别", "Kind of document"),
    "case.doc_paper": ("纸质户口迁移证", "paper migration certificate"),
    "case.doc_electronic": ("跨省迁移电子信息", "electronic one-stop confirmation"),
    "case.reissue_permit": ("重新开具准予迁入证明", "Issue a new move-in permit"),
    "case.register_permit_needed": (
        "户口自省外迁入：须凭有效的准予迁入证明及迁出地户口迁移证登记",
        "The hukou comes from outside Zhejiang: registration needs a valid move-in permit and "
        "the origin's migration certificate",
    ),
    "permit.issued": ("有效", "issued"),
    "permit.used": ("已使用", "used"),
    "permit.expired": ("已过期", "expired"),
    "permit.cancelled": ("已注销", "cancelled"),
    "reason.dwelling_not_in_register": (
        "住所尚未录入登记簿，以等同住所代之",
        "the dwelling is not in the register yet; an equivalent one is used",
    ),
    "reason.anchor_household_changed": (
        "被投靠人户口已变动",
        "the hukou of the relative joined has changed",
    ),
    "reason.consent_withdrawn": (
        "接收户（单位）撤回同意",
        "the receiving household (unit) withdrew its consent",
    ),
    "reason.household_dissolved": ("原定户已注销", "the intended household was dissolved"),
    "reason.authority_order": (
        "法院判决或上级机关决定",
        "a court judgment or a higher authority's decision",
    ),
    "reason.data_correction": ("更正登记错误", "correcting an error in the register"),
    "moves.heading": ("户口迁移", "Moves of hukou"),
    "moves.notices": (
        "迁出通知（他所登记迁入、本所户口已迁出）",
        "Notices received (another station registered a person whose hukou was here)",
    ),
    "moves.permits": ("本所开具的准予迁入证明", "Move-in permits this station issued"),
    "moves.person": ("人员", "Person"),
    "moves.to": ("迁入地", "Moved to"),
    "moves.on": ("迁移日期", "Moved on"),
    "moves.acknowledge": ("确认", "Acknowledge"),
    "moves.none": ("暂无", "None"),
    "moves.due": ("即将到期", "runs out soon"),
    "moves.lapsed": ("已过有效期", "past its last day"),
    "moves.cancel": ("注销", "Cancel"),
    "moves.expire": ("登记过期", "Mark expired"),
    "moves.origin": ("迁出地", "Origin"),
    "notice.pending": ("待确认", "to acknowledge"),
    "notice.acknowledged": ("已确认", "acknowledged"),
    "notice.forwarded": ("已经省系统告知", "told through the provincial system"),
    "moveouts.heading": ("§4.5 户口迁出程序", "§4.5 move-out procedures"),
    "moveouts.person": ("当事人", "Person concerned"),
    "moveouts.new": ("受理迁出申请（书面申请）", "Take a written move-out request"),
    "moveouts.person_id": ("当事人身份证号码", "ID number of the person to move out"),
    "moveouts.requester": ("申请人姓名", "Name of the requester"),
    "moveouts.requester_role": ("申请人身份", "The requester is"),
    "moveouts.proof": ("房屋权属证明", "Property proof"),
    "moveouts.submit": ("受理", "Take the request"),
    "mrole.householder": ("现户主", "the householder"),
    "mrole.owner": ("房屋权利人", "the owner"),
    "mrole.tenant": ("承租人", "the tenant"),
    "moveouts.deadline": ("公示截止", "Notice ends"),
    "moveouts.due": ("公示期已满，可依职权迁移", "notice has run out: may move ex officio"),
    "moveouts.running": ("公示中", "notice running"),
    "moveouts.requested": ("申请日期", "Requested on"),
    "moveouts.action": ("下一步", "Next step"),
    "moveouts.empty": ("没有迁出程序。", "No procedures."),
    "mo.requested": ("已申请", "requested"),
    "mo.notified": ("已通知", "notified"),
    "mo.public_notice": ("公示中", "public notice"),
    "mo.moved_out": ("已自行迁出", "moved out"),
    "mo.moved_ex_officio": ("已依职权迁至集体户", "moved ex officio"),
    "mo.withdrawn": ("已撤回", "withdrawn"),
    "moa.notify": ("通知当事人", "notify"),
    "moa.unreachable": ("无法通知，公示", "unreachable: public notice"),
    "moa.refused": ("拒不迁出，公示", "refused: public notice"),
    "moa.moved_out": ("已自行迁出", "moved out"),
    "moa.move_ex_officio": ("依职权迁至社区集体户", "move ex officio to the community household"),
    "moa.withdraw": ("撤回", "withdraw"),
    "attach.heading": (
        "§4.4 挂靠社区（村）集体户",
        "§4.4 attach to the community collective household",
    ),
    "attach.id_number": ("当事人身份证号码", "ID number of the person"),
    "attach.reason": ("失去登记条件的原因", "Why the address was lost"),
    "attach.submit": ("办理挂靠", "Attach"),
    "attach.done": ("已挂靠至集体户 {number}", "Attached to collective household {number}"),
    "attach.no_person": ("登记簿中无此人。", "No such person in the register."),
    # ---- keeper ----
    "keeper.heading": ("社区公共集体户", "Community collective household"),
    "keeper.number": ("户号：{number}", "Household number: {number}"),
    "keeper.members": ("集体户成员", "Members"),
    "keeper.name": ("姓名", "Name"),
    "keeper.id_number": ("身份证号码", "ID number"),
    "keeper.since": ("入户日期", "Since"),
    "keeper.reason": ("入户原因", "Reason"),
    "keeper.empty": ("暂无成员。", "No members yet."),
    "keeper.attach_note": (
        "§4.4 挂靠由户口所在地派出所民警办理；挂靠后的人员显示于此。",
        "§4.4 attachments are made by the station's officer; attached people appear here.",
    ),
    # ---- analyst ----
    "analyst.heading": ("统计分析（仅汇总数据）", "Analysis (aggregates only)"),
    "analyst.by_county": ("各县（市、区）申请数", "Applications per county"),
    "analyst.by_state": ("按状态", "By state"),
    "analyst.table": ("申请汇总（县 × 渠道 × 状态）", "Applications by county, channel and state"),
    "analyst.county": ("县（市、区）", "County"),
    "analyst.count": ("件数", "Count"),
    "analyst.indicators": ("§7 指标与改革模拟", "§7 indicators and reforms"),
    "analyst.indicators_pending": (
        "§7 指标（按县、时期）与改革模拟（得益者与受损者）将在此显示。",
        "§7 indicators per county and period, and reform runs (gainers and losers), appear here.",
    ),
    # ---- analyst: §7 indicators ----
    "analyst.registry": ("登记簿：申请情况", "The register: applications"),
    "analyst.ind_intro": (
        "嘉政办发〔2020〕28号第七条：按农业转移人员落户数量、居住证办理数量安排转移支付和建设用地。"
        "以下均为汇总数，不含任何个人信息。",
        "§7 of the notice ties fiscal transfers and land quotas to the migrants settled and the "
        "residence permits issued. Aggregates only: no person is shown.",
    ),
    "analyst.period_form": ("统计期间", "Period"),
    "analyst.period": ("汇总单位", "Group by"),
    "analyst.period.month": ("月", "month"),
    "analyst.period.quarter": ("季度", "quarter"),
    "analyst.period.year": ("年", "year"),
    "analyst.from": ("起始日期", "From"),
    "analyst.to": ("截止日期", "To"),
    "analyst.show": ("显示", "Show"),
    "analyst.fix": ("请更正：", "Please correct:"),
    "analyst.suppression": (
        "小数抑制：1 至 {m} 的计数显示为“<{k}”（图表中不画出），以免识别个人；0 照常显示。"
        "仅作一次抑制：个别被抑制的数可能由合计与同行其他数推算。",
        "Small counts: counts from 1 to {m} are shown as “<{k}” (and not drawn in the charts) so "
        "that no person can be singled out; 0 is shown. Primary suppression only: a suppressed "
        "cell may sometimes be worked out from a total and the other cells of its row.",
    ),
    "analyst.summary": ("各县（市、区）§7 指标汇总", "§7 indicators per county"),
    "analyst.period_col": ("期间", "Period"),
    "analyst.settled_persons": ("落户人数", "Persons settled"),
    "analyst.settled_apps": ("落户申请件数", "Settlement applications"),
    "analyst.permits": ("居住证办理数", "Residence permits issued"),
    "analyst.eligible": ("符合条件尚未落户", "Eligible, not yet settled"),
    "analyst.settlements": ("落户人数（按渠道）", "Persons settled by channel"),
    "analyst.settlements_note": (
        "来源：登记簿中已办理落户登记的申请（按登记日、登记派出所所在县）；人数含随迁亲属。",
        "Source: the register's applications registered (by the day of registration and the "
        "station's county); persons include the relatives who came along.",
    ),
    "analyst.channel": ("落户渠道", "Channel"),
    "analyst.applications": ("申请件数", "Applications"),
    "analyst.persons": ("人数", "Persons"),
    "analyst.permits_note.registry": (
        "来源：登记簿居住登记记录（居住证）。",
        "Source: the register's residence records (permits).",
    ),
    "analyst.permits_note.population": (
        "来源：演示人口数据（persons.permit_issued_on，按发证县）。",
        "Source: the demo population (persons.permit_issued_on, by issuing county).",
    ),
    "analyst.eligible_note": (
        "来源：对演示人口的批量审查结果（决定日的快照）：符合条件、户口尚不在嘉兴城镇者，按居住地县与最优渠道。",
        "Source: the batch decisions over the demo population (a snapshot on the decision date): "
        "eligible persons whose hukou is not yet in a town of Jiaxing, by county of residence "
        "and best channel.",
    ),
    "analyst.none": ("所选期间无数据。", "No figures in the period chosen."),
    "analyst.unavailable": ("暂不可用", "Not available"),
    "analyst.no_population": (
        "未找到演示人口数据（{dir}）：居住证指标与改革测算暂不可用。请运行 make run（hukou synth）。",
        "No demo population at {dir}: the permits indicator and reform runs are unavailable. "
        "Run make run (hukou synth).",
    ),
    "analyst.no_results": (
        "未找到批量审查结果（{dir}/results）：“符合条件尚未落户”指标暂不可用。请运行 hukou batch。",
        "No batch results at {dir}/results: the “eligible, not yet settled” indicator is "
        "unavailable. Run hukou batch.",
    ),
    "analyst.no_evaluator": (
        "编译查询（analytics.batch）暂不可用：改革测算暂时无法运行。",
        "The compiled query (analytics.batch) is not available: reform runs cannot run yet.",
    ),
    "analyst.chart_alt": (
        "{title}（条形图，{span}合计）。数字见下表。",
        "{title} (bar chart, {span} summed). The figures are in the table below.",
    ),
    "analyst.chart_caption": ("各县合计，{span}", "Per county, {span} summed"),
    "analyst.all_time": ("全部期间", "all periods"),
    "analyst.api_hint": (
        "同样的数据（JSON）：GET /api/indicators?period=…&from=…&to=…（须令牌）。",
        "The same figures as JSON: GET /api/indicators?period=…&from=…&to=… (bearer token).",
    ),
    # ---- analyst: reforms ----
    "reform.heading": ("改革测算：谁获益、谁受损", "What-if reform: who gains, who loses"),
    "reform.intro": (
        "修改参数，在演示人口上比较现行规定与改革后的结论（编译查询，约数秒）。",
        "Change parameters and compare the law as enacted with the reform on the demo "
        "population (the compiled query: a few seconds).",
    ),
    "reform.example": ("示例改革", "Example reform"),
    "reform.custom": ("自定义（现行参数）", "Custom (the current parameters)"),
    "reform.load": ("载入示例", "Load the example"),
    "reform.name_zh": ("改革名称（中文）", "Reform name (Chinese)"),
    "reform.name_en": ("改革名称（英文）", "Reform name (English)"),
    "reform.default_name": ("自定义改革", "Custom reform"),
    "reform.date": ("决定日期", "Decision date"),
    "reform.params": ("参数", "Parameters"),
    "reform.readings": ("条文解释（是/否）", "Readings of the notice (true / false)"),
    "reform.current": ("现行：{v}", "now: {v}"),
    "reform.true": ("是", "true"),
    "reform.false": ("否", "false"),
    "reform.run": ("运行测算", "Run the reform"),
    "reform.param.s1_urban.continuous_residence_years": (
        "租赁商品住房连续居住年限（年）",
        "Years of continuous residence in a rented commercial flat",
    ),
    "reform.param.s3_relatives.parent_min_age_male": (
        "父亲投靠成年子女年龄（周岁）",
        "Age from which a father may join an adult child",
    ),
    "reform.param.s3_relatives.parent_min_age_female": (
        "母亲投靠成年子女年龄（周岁）",
        "Age from which a mother may join an adult child",
    ),
    "reform.param.s2_talent.vocational_graduate_window_years": (
        "中职（技校）毕业后年限（年）",
        "Years after secondary-vocational graduation",
    ),
    "reform.errors": ("改革参数有误（{n} 处）：", "The reform has {n} problem(s):"),
    "reform.result": ("改革测算结果", "Reform result"),
    "reform.on": ("决定日期：{on}；人数：{n}", "Decision date: {on}; persons: {n}"),
    "reform.versions": ("规则版本：现行 {a}；改革 {b}", "Rule versions: baseline {a}; reform {b}"),
    "reform.changed": ("改动的参数", "Parameters changed"),
    "reform.unchanged": ("未改动任何参数（对照）。", "No parameter changed (a control run)."),
    "reform.before": ("改革前符合", "Eligible before"),
    "reform.after": ("改革后符合", "Eligible after"),
    "reform.value_before": ("现行值", "Value now"),
    "reform.value_after": ("改革后的值", "Value under the reform"),
    "reform.age_unknown": ("未知", "unknown"),
    "reform.gains": ("获益", "Gains"),
    "reform.loses": ("受损", "Losses"),
    "reform.net": ("净变化", "Net"),
    "reform.earlier": ("最早日期提前", "Earliest date earlier"),
    "reform.later": ("最早日期推后", "Earliest date later"),
    "reform.by_county_channel": ("县（市、区）× 渠道", "County × channel"),
    "reform.chart": ("获益（向右）与受损（向左）人数", "Gains (right) and losses (left)"),
    "reform.chart_alt": (
        "获益与受损人数条形图（按渠道、县、年龄段、性别）。数字见下列各表。",
        "Bar chart of gains and losses by channel, county, age band and sex. The figures are in "
        "the tables below.",
    ),
    "reform.downloads": ("下载", "Downloads"),
    "reform.xlsx": ("Excel 工作簿（reform.xlsx）", "Excel workbook (reform.xlsx)"),
    "reform.html": ("交互式图表（reform.html）", "Interactive chart (reform.html)"),
    "reform.download_note": (
        "下载文件同样作小数抑制（工作簿中留空）。",
        "The downloads carry the same suppression (empty cells in the workbook).",
    ),
    "reform.again": ("再运行一次测算", "Run another reform"),
    "reform.gone": (
        "此测算结果已不在服务器上（只保留最近 {n} 次），请重新运行。",
        "This result is no longer kept on the server (only the last {n} runs are); run it again.",
    ),
    "reform.definitions": (
        "获益：改革前不符合或待定、改革后符合；受损：改革前符合、改革后不符合或待定。",
        "Gains: not eligible or undetermined before, eligible after; losses: eligible before, "
        "not after.",
    ),
    # ---- PDF notice ----
    "notice.approved": ("准予落户决定书", "Decision to approve settlement"),
    "notice.rejected": ("不予落户决定书", "Decision to refuse settlement"),
}

CHANNEL_KINDS: Final = ("s1_1", "s2_1", "s2_2", "s3_1", "s3_3", "s4_4")


def t(key: str, lang: str = "zh", **values: object) -> str:
    """The text of ``key`` in ``lang`` (English falls back to Chinese, then to the key)."""
    pair = MESSAGES.get(key)
    text = _option(key, lang) if pair is None else pair[0] if lang == "zh" else pair[1] or pair[0]
    return text.format(**values) if values else text


def _option(key: str, lang: str) -> str:
    """Option labels that live in the policy layer: counties and qualification ladders."""
    _, _, value = key.partition(".")
    if key.startswith("county."):
        return places.county_name(value, lang)
    if key.startswith("opt.") and value in SCALE_LABELS:
        zh, en = SCALE_LABELS[value]
        return zh if lang == "zh" else en
    return key


def county(code: str | None, lang: str) -> str:
    if not code:
        return ""
    return places.county_name(code, lang)


def jiaxing_counties() -> list[str]:
    return list(places.jiaxing_counties())
